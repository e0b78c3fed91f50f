using Loom.Bench.Serving;
using Spectre.Console;

namespace Loom.Bench.Tests.Bench;

public class ServerModelCardTests
{
    [Fact]
    public void Loom_llama_server_and_vllm_cards_give_the_id_and_the_vocabulary_where_they_say_it()
    {
        Assert.Equal(new ServerModelCard("m", 151936),
            ServerModelCard.Parse("""{"object":"list","data":[{"id":"m","object":"model","max_model_len":4096,"vocab_size":151936}]}"""));
        Assert.Equal(new ServerModelCard("q.gguf", 32000),
            ServerModelCard.Parse("""{"object":"list","data":[{"id":"q.gguf","object":"model","owned_by":"llamacpp","meta":{"vocab_type":2,"n_vocab":32000,"n_ctx_train":32768}}]}"""));
        Assert.Equal(new ServerModelCard("v", null), ServerModelCard.Parse("""{"object":"list","data":[{"id":"v","object":"model","max_model_len":4096}]}"""));
        Assert.Null(ServerModelCard.Parse("""{"object":"list","data":[]}"""));
    }

    [Fact]
    public async Task A_server_that_gives_no_vocabulary_gets_an_error_naming_what_to_pass()
    {
        await using var server = await FakeOpenAiServer.StartAsync(TimeSpan.Zero, TimeSpan.Zero);
        var settings = new ServeSettings { BaseUrls = [server.BaseUrl], ServedModelName = "m", NumPrompts = 1, DisableProgress = true, ReadyCheckTimeoutSec = 5 };
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(new StringWriter()), Interactive = InteractionSupport.No });
        var e = await Assert.ThrowsAsync<ArgumentException>(() => new ServeApplication(settings, console).RunAsync(CancellationToken.None));
        Assert.Contains("--tokenizer", e.Message);
        Assert.Contains("--model", e.Message);
        Assert.Contains("--vocab-size", e.Message);
        Assert.Equal(0, server.RequestCount);
    }
}
