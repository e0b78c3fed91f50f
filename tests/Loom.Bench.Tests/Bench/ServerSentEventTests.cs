using System.Text;
using Loom.Bench.Client;

namespace Loom.Bench.Tests.Bench;

public class ServerSentEventTests
{
    private static async Task<List<string>> ReadAll(string stream)
    {
        var reader = new ServerSentEventReader(new MemoryStream(Encoding.UTF8.GetBytes(stream)));
        var events = new List<string>();
        while (await reader.ReadEventAsync(CancellationToken.None) is { } data) events.Add(data);
        return events;
    }

    [Fact]
    public async Task Events_end_at_blank_lines_and_comments_are_skipped()
    {
        var events = await ReadAll(": ping\n\ndata: {\"a\":1}\n\ndata:{\"b\":2}\r\n\r\nevent: x\ndata: line1\ndata: line2\n\ndata: [DONE]");
        Assert.Equal(["{\"a\":1}", "{\"b\":2}", "line1\nline2", "[DONE]"], events);
    }

    [Fact]
    public void Completion_chunks_carry_text_and_usage_chunks_carry_the_token_count()
    {
        var text = StreamChunk.Parse("""{"choices":[{"index":0,"text":" hi","finish_reason":null}],"usage":null}""", chat: false);
        Assert.True(text.CarriesToken);
        Assert.Equal(" hi", text.Text);
        Assert.Null(text.CompletionTokens);
        var empty = StreamChunk.Parse("""{"choices":[{"index":0,"text":""}]}""", chat: false);
        Assert.True(empty.CarriesToken); // vLLM counts chunks with empty text (special tokens) too
        var usage = StreamChunk.Parse("""{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":17,"total_tokens":22}}""", chat: false);
        Assert.False(usage.CarriesToken);
        Assert.Equal(17, usage.CompletionTokens);
    }

    [Fact]
    public void Chat_role_announcement_is_not_a_token_but_content_and_finish_are()
    {
        Assert.False(StreamChunk.Parse("""{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}""", chat: true).CarriesToken);
        var content = StreamChunk.Parse("""{"choices":[{"index":0,"delta":{"content":"Hel"}}]}""", chat: true);
        Assert.True(content.CarriesToken);
        Assert.Equal("Hel", content.Text);
        Assert.True(StreamChunk.Parse("""{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}""", chat: true).CarriesToken);
    }

    [Fact]
    public void An_error_payload_is_reported() =>
        Assert.Equal("context too long", StreamChunk.Parse("""{"error":{"message":"context too long","type":"invalid_request_error"}}""", chat: false).Error);

    [Theory]
    [InlineData("http://127.0.0.1:8000", "/v1/completions", "http://127.0.0.1:8000/v1/completions", EndpointKind.Completions)]
    [InlineData("http://h:1/", "v1/chat/completions", "http://h:1/v1/chat/completions", EndpointKind.ChatCompletions)]
    public void Endpoint_url_and_kind_follow_base_url_and_path(string baseUrl, string endpoint, string url, EndpointKind kind)
    {
        var target = EndpointTarget.Create(baseUrl, endpoint, "m");
        Assert.Equal(url, target.ApiUrl.ToString());
        Assert.Equal(kind, target.Kind);
    }

    [Fact]
    public void Unknown_endpoint_is_rejected() =>
        Assert.Throws<ArgumentException>(() => EndpointTarget.Create("http://h:1", "/v1/embeddings", "m"));
}
