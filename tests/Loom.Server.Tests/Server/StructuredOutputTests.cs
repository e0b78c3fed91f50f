using System.ClientModel;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Json.Schema;
using Loom.Server.Tests.Server.Fakes;
using OpenAI;
using OpenAI.Chat;

namespace Loom.Server.Tests.Server;

/// <summary>Constrained decoding through the API on the live demo server: sampled at temperature 1, every output obeys.</summary>
public sealed class StructuredOutputTests(DemoServerFixture fixture) : IClassFixture<DemoServerFixture>
{
    private const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":6},"age":{"type":"integer","minimum":0,"maximum":99},
         "color":{"enum":["red","green"]},"ok":{"type":"boolean"}},"required":["name","age","color","ok"],"additionalProperties":false}
        """;

    private static readonly int[] Seeds = [1, 2, 3];

    private async Task<(string Text, string Finish)> ChatAsync(string constraint, int seed, int maxTokens = 200)
    {
        using var client = TestServers.Client(fixture.Server, DemoServerFixture.ApiKey);
        var (status, json) = await TestServers.PostAsync(client, "/v1/chat/completions",
            $$"""{"messages":[{"role":"user","content":"Describe a person."}],"temperature":1,"seed":{{seed}},"max_tokens":{{maxTokens}},{{constraint}}}""");
        Assert.True(status == 200, json.ToString());
        var choice = json.GetProperty("choices")[0];
        return (choice.GetProperty("message").GetProperty("content").GetString()!, choice.GetProperty("finish_reason").GetString()!);
    }

    private static void AssertValid(string schema, string text)
    {
        using var doc = JsonDocument.Parse(text);
        var result = JsonSchema.FromText(schema, new BuildOptions { SchemaRegistry = new SchemaRegistry() }).Evaluate(doc.RootElement);
        Assert.True(result.IsValid, text);
    }

    [Fact]
    public async Task Json_schema_outputs_parse_and_validate_and_end_with_stop()
    {
        foreach (int seed in Seeds)
        {
            var (text, finish) = await ChatAsync(
                "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"person\",\"schema\":" + Schema + ",\"strict\":true}}",
                seed);
            Assert.Equal("stop", finish);
            AssertValid(Schema, text);
        }
    }

    [Theory]
    [InlineData("\"guided_regex\":\"[a-c]{2,5}-[0-9]{1,3}\"")]
    [InlineData("\"structured_outputs\":{\"regex\":\"[a-c]{2,5}-[0-9]{1,3}\"}")]
    public async Task Regex_outputs_match(string constraint)
    {
        foreach (int seed in Seeds)
        {
            var (text, finish) = await ChatAsync(constraint, seed);
            Assert.Equal("stop", finish);
            Assert.Matches(new Regex("^[a-c]{2,5}-[0-9]{1,3}$"), text);
        }
    }

    [Theory]
    [InlineData("\"guided_choice\":[\"red\",\"green\",\"blue sky\"]")]
    [InlineData("\"structured_outputs\":{\"choice\":[\"red\",\"green\",\"blue sky\"]}")]
    public async Task Choice_outputs_are_members(string constraint)
    {
        foreach (int seed in Seeds)
        {
            var (text, _) = await ChatAsync(constraint, seed);
            Assert.Contains(text, new[] { "red", "green", "blue sky" });
        }
    }

    [Fact]
    public async Task Json_object_outputs_are_objects()
    {
        foreach (int seed in Seeds)
        {
            var (text, finish) = await ChatAsync("\"response_format\":{\"type\":\"json_object\"}", seed, maxTokens: 300);
            Assert.StartsWith("{", text.TrimStart());
            if (finish != "stop") continue; // an unbounded object may run out of tokens; what it wrote is still a prefix
            using var doc = JsonDocument.Parse(text);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        }
    }

    [Fact]
    public async Task Streaming_regex_output_matches()
    {
        using var client = TestServers.Client(fixture.Server, DemoServerFixture.ApiKey);
        using var response = await client.PostAsync("/v1/completions", TestServers.Json(
            """{"prompt":"Code:","temperature":1,"seed":5,"max_tokens":50,"stream":true,"guided_regex":"[a-c]{2,5}-[0-9]{1,3}"}"""));
        var body = await response.Content.ReadAsStringAsync();
        var text = new StringBuilder();
        foreach (var line in body.Split('\n'))
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
            using var chunk = JsonDocument.Parse(line["data: ".Length..]);
            foreach (var c in chunk.RootElement.GetProperty("choices").EnumerateArray()) text.Append(c.GetProperty("text").GetString());
        }
        Assert.Matches(new Regex("^[a-c]{2,5}-[0-9]{1,3}$"), text.ToString());
    }

    [Theory]
    [InlineData("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\",\"if\":{}}}}", "response_format")]
    [InlineData("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"nonsense\"}}}", "response_format")]
    [InlineData("\"guided_regex\":\"[a-\"", "guided_regex")]
    [InlineData("\"guided_regex\":\"[^\\\\s\\\\S]\"", "guided_regex")] // a regex no string matches
    [InlineData("\"structured_outputs\":{\"regex\":\"a[^\\\\s\\\\S]|b[^\\\\w\\\\W]\"}", "structured_outputs")]
    [InlineData("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"integer\",\"minimum\":5,\"maximum\":1}}}", "response_format")]
    [InlineData("\"guided_regex\":\"a\",\"guided_choice\":[\"b\"]", "guided_choice")]
    [InlineData("\"response_format\":{\"type\":\"json_object\"},\"guided_regex\":\"a\"", "guided_regex")]
    [InlineData("\"structured_outputs\":{\"structural_tag\":\"x\"}", "structured_outputs")]
    [InlineData("\"response_format\":{\"type\":\"xml\"}", "response_format")]
    [InlineData("\"guided_regex\":\"a\",\"guided_decoding_backend\":\"xgrammar\"", "guided_decoding_backend")]
    [InlineData("\"structured_outputs\":{\"regex\":\"a\",\"backend\":\"outlines\"}", "structured_outputs.backend")]
    [InlineData("\"structured_outputs\":{\"regex\":\"a\",\"backend\":1}", "structured_outputs.backend")]
    [InlineData("\"structured_outputs\":{\"regex\":\"a\",\"disable_fallback\":\"yes\"}", "structured_outputs")]
    [InlineData("\"structured_outputs\":{\"regex\":\"a\",\"whitespace_pattern\":\" \"}", "structured_outputs.whitespace_pattern")]
    [InlineData("\"structured_outputs\":{\"choice\":[\"a\"],\"disable_any_whitespace\":true}", "structured_outputs.disable_any_whitespace")]
    [InlineData("\"guided_regex\":\"a\",\"guided_whitespace_pattern\":\" \"", "guided_whitespace_pattern")]
    [InlineData("\"response_format\":{\"type\":\"json_object\"},\"guided_whitespace_pattern\":\" \"", "guided_whitespace_pattern")]
    public async Task Bad_constraints_are_400_naming_the_field(string constraint, string param)
    {
        using var client = TestServers.Client(fixture.Server, DemoServerFixture.ApiKey);
        var (status, json) = await TestServers.PostAsync(client, "/v1/chat/completions",
            $$"""{"messages":[{"role":"user","content":"hi"}],"max_tokens":4,{{constraint}}}""");
        Assert.Equal(400, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", param);
        var (ok, _) = await TestServers.PostAsync(client, "/v1/chat/completions",
            """{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}""");
        Assert.Equal(200, ok);
    }

    [Theory]
    [InlineData("\"guided_choice\":[\"yes\",\"no\"],\"guided_decoding_backend\":\"auto\"")]
    [InlineData("\"structured_outputs\":{\"choice\":[\"yes\",\"no\"],\"backend\":\"loom\",\"disable_fallback\":true}")]
    [InlineData("\"structured_outputs\":{\"choice\":[\"yes\",\"no\"],\"disable_fallback\":false}")]
    public async Task Backend_fields_naming_loom_are_honoured(string constraint)
    {
        var (text, _) = await ChatAsync(constraint, seed: 1, maxTokens: 8);
        Assert.Contains(text, (string[])["yes", "no"]);
    }

    [Fact]
    public async Task Official_client_json_schema_strict_whole_and_streaming()
    {
        var chat = new OpenAIClient(new ApiKeyCredential(DemoServerFixture.ApiKey),
            new OpenAIClientOptions { Endpoint = new Uri(fixture.Server.BaseUrl + "/v1") }).GetChatClient("demo");
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = 200,
            Temperature = 1,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(Schema), jsonSchemaIsStrict: true),
        };
        ChatMessage[] conversation = [new UserChatMessage("Describe a person.")];
        ChatCompletion whole = await chat.CompleteChatAsync(conversation, options);
        AssertValid(Schema, whole.Content[0].Text);
        var text = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync(conversation, options))
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
        AssertValid(Schema, text.ToString());
    }
}
