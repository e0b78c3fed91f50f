using System.Text.Json;
using Loom.Tests;

namespace Loom.ChatTemplates.Tests;

/// <summary>
/// Every chat template shipped with the fixtures and the demo model, rendered on the conversations in cases.json and
/// compared byte for byte with what transformers' apply_chat_template produced. Model folders have no cases.json of
/// their own; they reuse the cases of the tokenizer fixture whose template text is identical.
/// </summary>
public sealed class FixtureTemplateTests
{
    private sealed record Fixture(string Folder, string Template, string? Bos, string? Eos);

    private sealed record ChatCase(IReadOnlyList<ChatMessage> Messages, bool AddGenerationPrompt, string Rendered);

    private static IEnumerable<string> AllFolders() =>
        Directory.GetDirectories(Path.Combine(RepoPaths.Fixtures, "tokenizers"))
            .Concat(Directory.GetDirectories(Path.Combine(RepoPaths.Fixtures, "models")))
            .Append(RepoPaths.DemoModel)
            .Where(dir => File.Exists(Path.Combine(dir, "tokenizer_config.json")))
            .Order(StringComparer.Ordinal);

    public static TheoryData<string> Folders()
    {
        var data = new TheoryData<string>();
        foreach (string dir in AllFolders()) data.Add(Path.GetRelativePath(RepoPaths.Root, dir));
        return data;
    }

    private static Fixture LoadFixture(string folder)
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json")));
        JsonElement root = config.RootElement;
        return new Fixture(folder, ReadTemplate(root), ReadToken(root, "bos_token"), ReadToken(root, "eos_token"));
    }

    /// <summary>chat_template is a string, or a list of {name, template} where "default" is the one apply_chat_template uses.</summary>
    private static string ReadTemplate(JsonElement root)
    {
        JsonElement template = root.GetProperty("chat_template");
        if (template.ValueKind == JsonValueKind.String) return template.GetString()!;
        return template.EnumerateArray().First(t => t.GetProperty("name").GetString() == "default").GetProperty("template").GetString()!;
    }

    /// <summary>Special tokens appear as a string or as an AddedToken object with "content".</summary>
    private static string? ReadToken(JsonElement root, string name) =>
        !root.TryGetProperty(name, out JsonElement token) ? null
        : token.ValueKind == JsonValueKind.String ? token.GetString()
        : token.ValueKind == JsonValueKind.Object ? token.GetProperty("content").GetString()
        : null;

    private static List<ChatCase> LoadCases(string casesPath)
    {
        using var cases = JsonDocument.Parse(File.ReadAllText(casesPath));
        var result = new List<ChatCase>();
        foreach (JsonElement chat in cases.RootElement.GetProperty("chat").EnumerateArray())
        {
            var messages = chat.GetProperty("messages").EnumerateArray()
                .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()))
                .ToList();
            result.Add(new ChatCase(messages, chat.GetProperty("add_generation_prompt").GetBoolean(), chat.GetProperty("rendered").GetString()!));
        }
        return result;
    }

    /// <summary>The folder's own cases.json, else that of a tokenizer fixture with the same template text.</summary>
    private static string? FindCases(Fixture fixture)
    {
        string own = Path.Combine(fixture.Folder, "cases.json");
        if (File.Exists(own)) return own;
        return Directory.GetDirectories(Path.Combine(RepoPaths.Fixtures, "tokenizers"))
            .Where(dir => File.Exists(Path.Combine(dir, "cases.json")) && LoadFixture(dir).Template == fixture.Template)
            .Select(dir => Path.Combine(dir, "cases.json"))
            .FirstOrDefault();
    }

    private static ChatTemplateInput Input(Fixture fixture, ChatCase chat) =>
        new(chat.Messages) { AddGenerationPrompt = chat.AddGenerationPrompt, BosToken = fixture.Bos, EosToken = fixture.Eos };

    [Fact]
    public void FixturesAreDiscovered()
    {
        var folders = AllFolders().ToList();
        Assert.True(folders.Count >= 11, $"expected 4 tokenizer + 6 model fixtures + demo, found {folders.Count}");
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void RendersLikeTransformers(string relativeFolder)
    {
        var fixture = LoadFixture(Path.Combine(RepoPaths.Root, relativeFolder));
        var template = new JinjaChatTemplate(fixture.Template);
        string? casesPath = FindCases(fixture);
        if (casesPath == null)
        {
            // Only the demo model has a template no fixture shares; its expected text is written out in DemoModelTemplate.
            Assert.Equal(RepoPaths.DemoModel, fixture.Folder);
            return;
        }

        var cases = LoadCases(casesPath);
        Assert.NotEmpty(cases);
        foreach (ChatCase chat in cases)
            Assert.Equal(chat.Rendered, template.Render(Input(fixture, chat)));
    }

    [Fact]
    public void DemoModelTemplate()
    {
        var fixture = LoadFixture(RepoPaths.DemoModel);
        var template = new JinjaChatTemplate(fixture.Template);
        var messages = new[] { new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi!") };

        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
            template.Render(new ChatTemplateInput(messages) { AddGenerationPrompt = true, EosToken = fixture.Eos }));
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
            template.Render(new ChatTemplateInput(messages) { EosToken = fixture.Eos }));
    }

    [Theory]
    [InlineData("tests/fixtures/tokenizers/spm-legacy")]
    [InlineData("tests/fixtures/tokenizers/spm-metaspace")]
    public void Llama2TemplateRaisesOnNonAlternatingRoles(string relativeFolder)
    {
        var fixture = LoadFixture(Path.Combine(RepoPaths.Root, relativeFolder));
        var template = new JinjaChatTemplate(fixture.Template);
        var messages = new[] { new ChatMessage("assistant", "I speak first"), new ChatMessage("user", "Hello") };

        var error = Assert.Throws<ChatTemplateException>(() =>
            template.Render(new ChatTemplateInput(messages) { BosToken = fixture.Bos, EosToken = fixture.Eos }));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", error.Message);
    }
}
