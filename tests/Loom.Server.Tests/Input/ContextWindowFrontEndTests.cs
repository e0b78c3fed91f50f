using System.CommandLine;
using System.Text.Json;
using Loom.Cli;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Engine;
using Loom.Engine.ChatClient;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;
using Loom.Tests;
using Microsoft.Extensions.AI;

namespace Loom.Server.Tests.Input;

/// <summary>
/// Issue 11, item 4: one context-window rule with one message. The HTTP endpoints, LoomChatClient, the CLI and the
/// engine's own intake refuse a request over the demo model's window with the same words; the server answers a 400
/// in OpenAI's shape with code context_length_exceeded.
/// </summary>
public sealed class ContextWindowFrontEndTests : IAsyncLifetime
{
    private ServedModel _served = null!;
    private LoomServer _server = null!;
    private HttpClient _http = null!;
    private LoomChatClient _chat = null!;

    public async Task InitializeAsync()
    {
        var engine = new EngineOptions();
        _served = EngineHost.Start(ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engine }), engine);
        _server = await TestServers.StartAsync(_served with { Owner = null });
        _http = TestServers.Client(_server);
        _chat = new LoomChatClient(_served.Engine, _served.Tokenizer, _served.ChatTemplate, new LoomChatClientOptions
        {
            ModelId = _served.Name, MaxModelLen = _served.MaxModelLen, GenerationConfig = _served.GenerationConfig,
        });
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
        await _served.Owner!.DisposeAsync();
    }

    /// <summary>Far more tokens than the window, far fewer characters than the untokenized bound: tokenizing stops past the window.</summary>
    private string LongText()
    {
        var text = string.Concat(Enumerable.Repeat("kv ", 2 * _served.MaxModelLen));
        Assert.True(text.Length < _served.MaxPromptChars, "the text must reach the tokenizer");
        return text;
    }

    [Fact]
    public async Task A_prompt_text_over_the_window_gets_one_message_from_every_front_end()
    {
        string text = LongText();
        string expected = new ContextWindow(_served.MaxModelLen).PromptPastWindow("prompt").Message;

        var completions = await ServerErrorAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = text }), "prompt");
        var chat = await ServerErrorAsync("/v1/chat/completions",
            JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = text } } }), "messages");
        var client = await Assert.ThrowsAsync<RequestRejectedException>(() => _chat.GetResponseAsync([new ChatMessage(ChatRole.User, text)]));
        Assert.Equal("messages", client.ParamName);

        Assert.Equal(expected, completions);
        Assert.Equal(expected, chat);
        Assert.Equal(expected, client.Message);
        Assert.Equal(expected, CliError("--prompt", text));
    }

    [Fact]
    public async Task A_prompt_of_ids_filling_the_window_gets_one_message_from_every_front_end_and_the_engine()
    {
        int[] ids = Enumerable.Range(0, _served.MaxModelLen).Select(i => 1 + i % 100).ToArray();
        string expected = $"This model's maximum context length is {_served.MaxModelLen} tokens. " +
            $"However, your prompt has {ids.Length} tokens, leaving no room for output.";

        Assert.Equal(expected, await ServerErrorAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = ids }), "prompt"));
        Assert.Equal(expected, CliError("--prompt-ids", string.Join(",", ids)));
        Assert.Equal(expected, (await EngineErrorAsync(ids, maxTokens: 1)).Message);
    }

    [Fact]
    public async Task Max_tokens_past_the_window_gets_one_message_from_every_front_end_and_the_engine()
    {
        int[] ids = [1, 2, 3];
        int maxTokens = _served.MaxModelLen;
        string expected = $"This model's maximum context length is {_served.MaxModelLen} tokens. However, you requested " +
            $"{ids.Length + maxTokens} tokens ({ids.Length} in the prompt, {maxTokens} in the completion); " +
            $"at most {_served.MaxModelLen - ids.Length} completion tokens fit.";

        Assert.Equal(expected, await ServerErrorAsync("/v1/completions",
            JsonSerializer.Serialize(new { prompt = ids, max_tokens = maxTokens }), "max_tokens"));
        Assert.Equal(expected, CliError("--prompt-ids", "1,2,3", "--max-tokens", maxTokens.ToString()));
        var engine = await EngineErrorAsync(ids, maxTokens);
        Assert.Equal(expected, engine.Message);
        Assert.Equal("max_tokens", engine.ParamName);
    }

    private async Task<string> ServerErrorAsync(string path, string body, string param)
    {
        var (status, json) = await TestServers.PostAsync(_http, path, body);
        Assert.Equal(400, status);
        var error = json.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(ContextWindow.ExceededCode, error.GetProperty("code").GetString());
        return error.GetProperty("message").GetString()!;
    }

    /// <summary>The scheduler's intake, reached without any front end.</summary>
    private async Task<RequestRejectedException> EngineErrorAsync(int[] ids, int maxTokens) =>
        await Assert.ThrowsAsync<RequestRejectedException>(async () =>
        {
            await foreach (var _ in _served.Engine.GenerateAsync(new EngineRequest("direct", ids, new SamplingParams { MaxTokens = maxTokens }))) { }
        });

    /// <summary>`loom generate` on the demo model: exit status 1 and the message on one "error:" line.</summary>
    private static string CliError(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.BuildRoot().Parse(["generate", "--model", RepoPaths.DemoModel, .. args])
            .Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        Assert.Equal(1, code);
        Assert.Equal("", stdout.ToString());
        var line = stderr.ToString().Split('\n').Single(l => l.StartsWith("error: ", StringComparison.Ordinal));
        return line["error: ".Length..].TrimEnd('\r');
    }
}
