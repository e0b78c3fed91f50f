using Loom.Core.Scheduling;
using System.Text;
using Loom.Engine;
using Loom.Engine.ChatClient;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;
using Loom.Tests;
using Microsoft.Extensions.AI;

namespace Loom.Server.Tests.ChatClient;

/// <summary>IChatClient in-process on the real engine and demo model, checked against the HTTP server with the same conversation.</summary>
public sealed class LoomChatClientTests : IAsyncLifetime
{
    private ServedModel _served = null!;
    private LoomChatClient _client = null!;

    public Task InitializeAsync()
    {
        var engine = new EngineOptions { IdleSelfCheck = true };
        _served = EngineHost.Start(ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engine }), engine);
        _client = new LoomChatClient(_served.Engine, _served.Tokenizer, _served.ChatTemplate, new LoomChatClientOptions
        {
            ModelId = _served.Name, MaxModelLen = _served.MaxModelLen, GenerationConfig = _served.GenerationConfig,
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _served.Owner!.DisposeAsync();

    private static readonly ChatMessage[] Conversation =
        [new(ChatRole.System, "You summarise papers."), new(ChatRole.User, "Large language model serving")];

    private const string PersonSchema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer","minimum":0,"maximum":120},
         "pets":{"type":"array","items":{"enum":["cat","dog"]},"maxItems":2}},"required":["name","age"],"additionalProperties":false}
        """;

    [Fact]
    public async Task Response_format_json_schema_is_enforced_at_temperature_one()
    {
        var format = ChatResponseFormat.ForJsonSchema(System.Text.Json.JsonDocument.Parse(PersonSchema).RootElement, "person");
        var validator = Json.Schema.JsonSchema.FromText(PersonSchema, new Json.Schema.BuildOptions { SchemaRegistry = new Json.Schema.SchemaRegistry() });
        for (int seed = 1; seed <= 4; seed++)
        {
            var options = new ChatOptions { MaxOutputTokens = 120, Temperature = 1, Seed = seed, ResponseFormat = format };
            var response = await _client.GetResponseAsync(Conversation, options);
            Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
            using var json = System.Text.Json.JsonDocument.Parse(response.Text);
            Assert.True(validator.Evaluate(json.RootElement).IsValid, response.Text);
        }
        var streamed = new StringBuilder();
        await foreach (var update in _client.GetStreamingResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 120, Temperature = 1, ResponseFormat = format }))
            streamed.Append(update.Text);
        using var streamedJson = System.Text.Json.JsonDocument.Parse(streamed.ToString());
        Assert.True(validator.Evaluate(streamedJson.RootElement).IsValid, streamed.ToString());
    }

    [Fact]
    public async Task Response_format_json_is_an_object_and_a_bad_schema_is_refused_naming_the_field()
    {
        var response = await _client.GetResponseAsync(Conversation,
            new ChatOptions { MaxOutputTokens = 120, Temperature = 1, Seed = 3, ResponseFormat = ChatResponseFormat.Json });
        if (response.FinishReason == ChatFinishReason.Stop)
            Assert.Equal(System.Text.Json.JsonValueKind.Object, System.Text.Json.JsonDocument.Parse(response.Text).RootElement.ValueKind);
        else Assert.StartsWith("{", response.Text.TrimStart());
        var bad = ChatResponseFormat.ForJsonSchema(System.Text.Json.JsonDocument.Parse("""{"type":"object","if":{}}""").RootElement);
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => _client.GetResponseAsync(Conversation, new ChatOptions { ResponseFormat = bad }));
        Assert.Equal("response_format", error.ParamName);
        Assert.Contains("if", error.Message);
    }

    [Fact]
    public async Task Response_matches_the_server_for_the_same_conversation()
    {
        var options = new ChatOptions { MaxOutputTokens = 12, Temperature = 0 };
        var response = await _client.GetResponseAsync(Conversation, options);
        Assert.Equal(ChatRole.Assistant, response.Messages[0].Role);
        Assert.False(string.IsNullOrWhiteSpace(response.Text));
        Assert.NotNull(response.Usage);
        Assert.InRange(response.Usage.OutputTokenCount!.Value, 1, 12);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);

        await using var server = await TestServers.StartAsync(_served with { Owner = null });
        using var http = TestServers.Client(server);
        var (status, json) = await TestServers.PostAsync(http, "/v1/chat/completions",
            """{"messages":[{"role":"system","content":"You summarise papers."},{"role":"user","content":"Large language model serving"}],"max_tokens":12,"temperature":0}""");
        Assert.Equal(200, status);
        Assert.Equal(json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), response.Text);
        Assert.Equal(json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), (int)response.Usage.InputTokenCount!.Value);
    }

    [Fact]
    public async Task Streaming_concatenates_to_the_whole_response_and_reports_finish_and_usage()
    {
        var options = new ChatOptions { MaxOutputTokens = 10, Temperature = 0 };
        var whole = await _client.GetResponseAsync(Conversation, options);
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        await foreach (var update in _client.GetStreamingResponseAsync(Conversation, options))
        {
            text.Append(update.Text);
            finish ??= update.FinishReason;
            usage ??= update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
        }
        Assert.Equal(whole.Text, text.ToString());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage);
        Assert.True(usage.CachedInputTokenCount > 0, "the repeated prompt should hit the prefix cache");
    }

    [Fact]
    public async Task Seed_and_stop_sequences_are_honoured()
    {
        var seeded = new ChatOptions { MaxOutputTokens = 12, Temperature = 1, Seed = 99 };
        Assert.Equal((await _client.GetResponseAsync(Conversation, seeded)).Text, (await _client.GetResponseAsync(Conversation, seeded)).Text);

        var free = (await _client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 24, Temperature = 0 })).Text;
        var words = free.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words.Length >= 3, free);
        var stop = " " + words[2];
        var stopped = await _client.GetResponseAsync(Conversation,
            new ChatOptions { MaxOutputTokens = 24, Temperature = 0, StopSequences = [stop] });
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        Assert.Equal(free[..free.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
    }

    [Fact]
    public async Task Bad_options_throw_naming_the_field()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => _client.GetResponseAsync(Conversation, new ChatOptions { Temperature = -1 }));
        Assert.Equal("temperature", e.ParamName);
        var rejected = await Assert.ThrowsAsync<RequestRejectedException>(() => _client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 5000 }));
        Assert.Equal("max_tokens", rejected.ParamName);
        await Assert.ThrowsAsync<ChatPromptException>(() => _client.GetResponseAsync([new ChatMessage(new ChatRole("wizard"), "x")]));
    }
}
