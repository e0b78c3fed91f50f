#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI client
using System.ClientModel;
using System.Text;
using System.Text.Json;
using Loom.Server.Tests.Server.Fakes;
using OpenAI;
using OpenAI.Chat;

namespace Loom.Server.Tests.Server;

/// <summary>The official OpenAI .NET client against the live server on the demo model (real engine).</summary>
public sealed class OpenAiClientTests(DemoServerFixture fixture) : IClassFixture<DemoServerFixture>
{
    private OpenAI.Chat.ChatClient Chat() => new OpenAIClient(new ApiKeyCredential(DemoServerFixture.ApiKey),
        new OpenAIClientOptions { Endpoint = new Uri(fixture.Server.BaseUrl + "/v1") }).GetChatClient("demo");

    private static readonly ChatMessage[] Conversation =
        [new SystemChatMessage("You summarise papers."), new UserChatMessage("Large language model serving")];

    [Fact]
    public async Task Chat_completion_with_usage()
    {
        ChatCompletion c = await Chat().CompleteChatAsync(Conversation,
            new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0 });
        Assert.Equal(ChatMessageRole.Assistant, c.Role);
        Assert.False(string.IsNullOrWhiteSpace(c.Content[0].Text));
        Assert.True(c.Usage.InputTokenCount > 10);
        Assert.InRange(c.Usage.OutputTokenCount, 1, 12);
        Assert.Equal(c.Usage.InputTokenCount + c.Usage.OutputTokenCount, c.Usage.TotalTokenCount);
        Assert.NotNull(c.Usage.InputTokenDetails);
        Assert.True(c.FinishReason is ChatFinishReason.Length or ChatFinishReason.Stop);
    }

    [Fact]
    public async Task Streaming_chat_equals_the_whole_response_under_greedy_decoding()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 16, Temperature = 0 };
        ChatCompletion whole = await Chat().CompleteChatAsync(Conversation, options);
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        await foreach (var update in Chat().CompleteChatStreamingAsync(Conversation, options))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }
        Assert.Equal(whole.Content[0].Text, text.ToString());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.True(usage.InputTokenDetails.CachedTokenCount > 0, "the repeated prompt should hit the prefix cache");
    }

    [Fact]
    public async Task Stop_sequence_ends_the_reply_before_the_stop_text()
    {
        var free = await Chat().CompleteChatAsync(Conversation, new ChatCompletionOptions { MaxOutputTokenCount = 24, Temperature = 0 });
        var reply = free.Value.Content[0].Text;
        var words = reply.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words.Length >= 3, "need a few words to pick a stop from: " + reply);
        var stop = " " + words[2];
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 24, Temperature = 0 };
        options.StopSequences.Add(stop);
        ChatCompletion stopped = await Chat().CompleteChatAsync(Conversation, options);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        Assert.Equal(reply[..reply.IndexOf(stop, StringComparison.Ordinal)], stopped.Content[0].Text);
    }

    [Fact]
    public async Task Same_seed_same_text_when_sampling()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 16, Temperature = 1.0f, Seed = 1234 };
        ChatCompletion a = await Chat().CompleteChatAsync(Conversation, options);
        ChatCompletion b = await Chat().CompleteChatAsync(Conversation, options);
        Assert.Equal(a.Content[0].Text, b.Content[0].Text);
    }

    [Fact]
    public async Task N_choices_and_completions_over_http()
    {
        using var http = TestServers.Client(fixture.Server, DemoServerFixture.ApiKey);
        var (status, json) = await TestServers.PostAsync(http, "/v1/chat/completions",
            """{"model":"demo","messages":[{"role":"user","content":"KV cache"}],"n":3,"max_tokens":8,"temperature":0.9,"seed":7}""");
        Assert.Equal(200, status);
        Assert.Equal(3, json.GetProperty("choices").GetArrayLength());
        Assert.InRange(json.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 3, 24);
        Assert.All(json.GetProperty("choices").EnumerateArray(), c => Assert.NotNull(c.GetProperty("finish_reason").GetString()));

        (status, json) = await TestServers.PostAsync(http, "/v1/completions",
            """{"model":"demo","prompt":"We propose","max_tokens":10,"temperature":0,"return_token_ids":true}""");
        Assert.Equal(200, status);
        var choice = json.GetProperty("choices")[0];
        var ids = choice.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(json.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), ids.Length);
        var (_, detok) = await TestServers.PostAsync(http, "/detokenize", JsonSerializer.Serialize(new { tokens = ids }));
        Assert.Equal(detok.GetProperty("prompt").GetString(), choice.GetProperty("text").GetString());
    }
}
