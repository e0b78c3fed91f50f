using System.Text.Json;
using Loom.ChatTemplates;
using Loom.Models.Config;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Server.Tests.Server;

/// <summary>/tokenize and /detokenize with real tokenizers and chat templates (the fixtures' ground truth).</summary>
public sealed class TokenizeTests
{
    /// <summary>A served model with the directory's real tokenizer and chat template; generation is not used here.</summary>
    private static ServedModel TokenizerOnlyModel(string dir)
    {
        var tokenizer = HfTokenizer.FromDirectory(dir);
        var template = tokenizer.Config.ChatTemplate is { } source ? new JinjaChatTemplate(source) : null;
        return new ServedModel(Path.GetFileName(dir), new ScriptedEngine(), tokenizer, template, GenerationConfig.Empty, 1024);
    }

    public static TheoryData<string> ChatFixtureTokenizers => ["bytebpe-qwen", "bytebpe-llama3", "spm-legacy", "spm-metaspace"];

    [Theory]
    [MemberData(nameof(ChatFixtureTokenizers))]
    public async Task Tokenize_with_messages_equals_the_fixture_chat_ids(string name)
    {
        var dir = RepoPaths.FixtureTokenizer(name);
        using var cases = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "cases.json")));
        await using var server = await TestServers.StartAsync(TokenizerOnlyModel(dir));
        using var client = TestServers.Client(server);
        int checkedCases = 0;
        foreach (var chat in cases.RootElement.GetProperty("chat").EnumerateArray())
        {
            var body = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["messages"] = chat.GetProperty("messages"),
                ["add_generation_prompt"] = chat.GetProperty("add_generation_prompt").GetBoolean(),
            });
            var (status, json) = await TestServers.PostAsync(client, "/tokenize", body);
            Assert.Equal(200, status);
            var expected = chat.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(expected, json.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray());
            Assert.Equal(expected.Length, json.GetProperty("count").GetInt32());
            Assert.Equal(1024, json.GetProperty("max_model_len").GetInt32());
            checkedCases++;
        }
        Assert.True(checkedCases >= 1);
    }

    [Fact]
    public async Task Tokenize_with_messages_on_the_demo_model_applies_its_chatml_template()
    {
        var model = TokenizerOnlyModel(RepoPaths.DemoModel);
        await using var server = await TestServers.StartAsync(model);
        using var client = TestServers.Client(server);
        var (status, json) = await TestServers.PostAsync(client, "/tokenize",
            """{"messages": [{"role":"system","content":"Be brief."},{"role":"user","content":"What is paged attention?"}]}""");
        Assert.Equal(200, status);
        var expected = model.Tokenizer.Encode(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is paged attention?<|im_end|>\n<|im_start|>assistant\n");
        Assert.Equal(expected, json.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.Contains(model.Tokenizer.TokenToId("<|im_start|>")!.Value, expected);
    }

    [Fact]
    public async Task Tokenize_prompt_then_detokenize_round_trips()
    {
        var dir = RepoPaths.FixtureTokenizer("bytebpe-qwen");
        using var cases = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "cases.json")));
        await using var server = await TestServers.StartAsync(TokenizerOnlyModel(dir));
        using var client = TestServers.Client(server);
        foreach (var c in cases.RootElement.GetProperty("cases").EnumerateArray().Take(12))
        {
            var text = c.GetProperty("text").GetString()!;
            var (status, json) = await TestServers.PostAsync(client, "/tokenize",
                JsonSerializer.Serialize(new Dictionary<string, object> { ["prompt"] = text, ["add_special_tokens"] = false }));
            Assert.Equal(200, status);
            var ids = json.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(), ids);

            (status, json) = await TestServers.PostAsync(client, "/detokenize",
                JsonSerializer.Serialize(new Dictionary<string, object> { ["tokens"] = ids }));
            Assert.Equal(200, status);
            Assert.Equal(c.GetProperty("decoded").GetString(), json.GetProperty("prompt").GetString());
        }
    }
}
