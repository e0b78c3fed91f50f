using System.Text.Json;
using Loom.Tests;

namespace Loom.ChatTemplates.Tests;

/// <summary>
/// The published chat templates of Llama 3.1 Instruct, Qwen2.5 Instruct, Mistral 7B Instruct v0.3 and Phi-3 mini
/// (PublishedTemplates/*.jinja, copied from the models' tokenizer_config.json) on fixed conversations. The expected
/// strings were written by reading each template as Jinja would execute it (trim_blocks, lstrip_blocks, '-' markers,
/// json.dumps separators) and cross-checked with Python's jinja2 3.1.6 configured as transformers configures it.
/// </summary>
public sealed class PublishedTemplateTests
{
    private static JinjaChatTemplate Load(string file) =>
        new(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "Loom.ChatTemplates.Tests", "PublishedTemplates", file)));

    private static readonly ChatMessage[] Conversation =
    [
        new("system", "You are a helpful assistant."),
        new("user", "What is the capital of France?"),
        new("assistant", "Paris."),
        new("user", "And of Germany?"),
    ];

    /// <summary>One OpenAI-style tool, given as JSON (as the server receives it). The description holds a non-ASCII '°'.</summary>
    private static IReadOnlyList<object?> WeatherTools()
    {
        using var doc = JsonDocument.Parse("""
            [{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city (°C).",
              "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}]
            """);
        return doc.RootElement.EnumerateArray().Select(e => (object?)e.Clone()).ToList();
    }

    private const string WeatherToolJson =
        """{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city (°C).", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}""";

    private const string WeatherToolJsonIndent4 = """
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the current weather for a city (°C).",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {
                            "type": "string",
                            "description": "City name"
                        }
                    },
                    "required": [
                        "city"
                    ]
                }
            }
        }
        """;

    private static Dictionary<string, object?> ToolCall(string id, string city) => new()
    {
        ["id"] = id,
        ["type"] = "function",
        ["function"] = new Dictionary<string, object?> { ["name"] = "get_weather", ["arguments"] = new Dictionary<string, object?> { ["city"] = city } },
    };

    private static ChatMessage AssistantCalling(params Dictionary<string, object?>[] calls) =>
        new("assistant", null) { Extra = new Dictionary<string, object?> { ["tool_calls"] = calls.Cast<object?>().ToList() } };

    private static ChatMessage ToolResult(string id, string content) =>
        new("tool", content) { Extra = new Dictionary<string, object?> { ["tool_call_id"] = id } };

    // ---------------- Llama 3.1 ----------------

    [Fact]
    public void Llama31_Conversation_UsesDefaultDate()
    {
        string rendered = Load("llama3.1-instruct.jinja").Render(new ChatTemplateInput(Conversation)
        {
            AddGenerationPrompt = true, BosToken = "<|begin_of_text|>", EosToken = "<|eot_id|>",
        });

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
            "You are a helpful assistant.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nAnd of Germany?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            rendered);
    }

    [Fact]
    public void Llama31_DateStringVariable_ReplacesDefault()
    {
        string rendered = Load("llama3.1-instruct.jinja").Render(new ChatTemplateInput([new ChatMessage("user", "  Hi  ")])
        {
            BosToken = "<|begin_of_text|>",
            Extra = new Dictionary<string, object?> { ["date_string"] = "23 Nov 2026" },
        });

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 23 Nov 2026\n\n<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
            rendered);
    }

    [Fact]
    public void Llama31_ToolsInFirstUserMessage_ToolCallAndToolResponse()
    {
        var messages = new[]
        {
            new ChatMessage("system", "You are a helpful assistant."),
            new ChatMessage("user", "What's the weather in Paris?"),
            AssistantCalling(ToolCall("call_1", "Paris")),
            ToolResult("call_1", "{\"temperature\": 18, \"condition\": \"cloudy\"}"),
        };
        string rendered = Load("llama3.1-instruct.jinja").Render(new ChatTemplateInput(messages)
        {
            AddGenerationPrompt = true, BosToken = "<|begin_of_text|>", EosToken = "<|eot_id|>", Tools = WeatherTools(),
        });

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Environment: ipython\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
            "You are a helpful assistant.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\n" +
            "Given the following functions, please respond with a JSON for a function call " +
            "with its proper arguments that best answers the given prompt.\n\n" +
            "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}." +
            "Do not use variables.\n\n" +
            WeatherToolJsonIndent4 + "\n\n" +
            "What's the weather in Paris?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n" +
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>" +
            // A string content "is iterable" in Jinja, so the template JSON-quotes tool output.
            "<|start_header_id|>ipython<|end_header_id|>\n\n" +
            "\"{\\\"temperature\\\": 18, \\\"condition\\\": \\\"cloudy\\\"}\"<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            rendered);
    }

    [Fact]
    public void Llama31_ToolsInSystemMessage_WhenToolsInUserMessageIsFalse()
    {
        string rendered = Load("llama3.1-instruct.jinja").Render(new ChatTemplateInput([new ChatMessage("user", "Weather in Paris?")])
        {
            BosToken = "<|begin_of_text|>",
            Tools = WeatherTools(),
            Extra = new Dictionary<string, object?> { ["tools_in_user_message"] = false },
        });

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Environment: ipython\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
            "You have access to the following functions. To call a function, please respond with JSON for a function call." +
            "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}." +
            "Do not use variables.\n\n" +
            WeatherToolJsonIndent4 + "\n\n" +
            "<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|>",
            rendered);
    }

    [Fact]
    public void Llama31_TwoToolCallsInOneMessage_Raise()
    {
        var messages = new[] { new ChatMessage("user", "Both?"), AssistantCalling(ToolCall("a", "Paris"), ToolCall("b", "Rome")) };
        var error = Assert.Throws<ChatTemplateException>(() => Load("llama3.1-instruct.jinja").Render(new ChatTemplateInput(messages)));
        Assert.Equal("This model only supports single tool-calls at once!", error.Message);
    }

    // ---------------- Qwen2.5 ----------------

    [Fact]
    public void Qwen25_Conversation()
    {
        string rendered = Load("qwen2.5-instruct.jinja").Render(new ChatTemplateInput(Conversation) { AddGenerationPrompt = true, EosToken = "<|im_end|>" });

        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n" +
            "<|im_start|>assistant\nParis.<|im_end|>\n" +
            "<|im_start|>user\nAnd of Germany?<|im_end|>\n" +
            "<|im_start|>assistant\n",
            rendered);
    }

    [Fact]
    public void Qwen25_NoSystemMessage_UsesDefaultSystemPrompt()
    {
        string rendered = Load("qwen2.5-instruct.jinja").Render(new ChatTemplateInput([new ChatMessage("user", "Hi")]));

        Assert.Equal(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nHi<|im_end|>\n",
            rendered);
    }

    [Fact]
    public void Qwen25_Tools_ParallelToolCalls_GroupedToolResponses()
    {
        var messages = new[]
        {
            new ChatMessage("system", "You are a helpful assistant."),
            new ChatMessage("user", "Weather in Paris and Berlin?"),
            AssistantCalling(ToolCall("call_1", "Paris"), ToolCall("call_2", "Berlin")),
            ToolResult("call_1", "18 degrees, cloudy"),
            ToolResult("call_2", "12 degrees, rain"),
            new ChatMessage("assistant", "Paris: 18, cloudy. Berlin: 12, rain."),
            new ChatMessage("user", "Thanks!"),
        };
        string rendered = Load("qwen2.5-instruct.jinja").Render(new ChatTemplateInput(messages) { AddGenerationPrompt = true, Tools = WeatherTools() });

        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\n" +
            "You may call one or more functions to assist with the user query.\n\n" +
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
            WeatherToolJson +
            "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
            "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\nWeather in Paris and Berlin?<|im_end|>\n" +
            "<|im_start|>assistant" +
            "\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>" +
            "\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Berlin\"}}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user" +
            "\n<tool_response>\n18 degrees, cloudy\n</tool_response>" +
            "\n<tool_response>\n12 degrees, rain\n</tool_response><|im_end|>\n" +
            "<|im_start|>assistant\nParis: 18, cloudy. Berlin: 12, rain.<|im_end|>\n" +
            "<|im_start|>user\nThanks!<|im_end|>\n" +
            "<|im_start|>assistant\n",
            rendered);
    }

    // ---------------- Mistral v0.3 ----------------

    [Fact]
    public void MistralV03_Conversation_SystemPromptGoesIntoLastUserTurn()
    {
        string rendered = Load("mistral-7b-instruct-v0.3.jinja").Render(new ChatTemplateInput(Conversation)
        {
            AddGenerationPrompt = true, BosToken = "<s>", EosToken = "</s>",
        });

        Assert.Equal(
            "<s>[INST] What is the capital of France?[/INST] Paris.</s>" +
            "[INST] You are a helpful assistant.\n\nAnd of Germany?[/INST]",
            rendered);
    }

    [Fact]
    public void MistralV03_ToolsToolCallAndResult()
    {
        var messages = new[]
        {
            new ChatMessage("user", "What's the weather in Paris?"),
            AssistantCalling(ToolCall("call12345", "Paris")),
            ToolResult("call12345", "18 degrees"),
        };
        string rendered = Load("mistral-7b-instruct-v0.3.jinja").Render(new ChatTemplateInput(messages)
        {
            BosToken = "<s>", EosToken = "</s>", Tools = WeatherTools(),
        });

        Assert.Equal(
            "<s>[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {" +
            "\"name\": \"get_weather\", \"description\": \"Get the current weather for a city (°C).\", " +
            "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}}, \"required\": [\"city\"]}" +
            "}}][/AVAILABLE_TOOLS]" +
            "[INST] What's the weather in Paris?[/INST]" +
            "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"call12345\"}]</s>" +
            "[TOOL_RESULTS] {\"content\": 18 degrees, \"call_id\": \"call12345\"}[/TOOL_RESULTS]",
            rendered);
    }

    [Fact]
    public void MistralV03_NonAlternatingRoles_Raise()
    {
        var messages = new[] { new ChatMessage("user", "a"), new ChatMessage("user", "b") };
        var error = Assert.Throws<ChatTemplateException>(() => Load("mistral-7b-instruct-v0.3.jinja").Render(new ChatTemplateInput(messages)));
        Assert.Equal("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...", error.Message);
    }

    // ---------------- Phi-3 mini ----------------

    [Fact]
    public void Phi3Mini_Conversation()
    {
        var template = Load("phi-3-mini-4k-instruct.jinja");
        const string turns =
            "<|system|>\nYou are a helpful assistant.<|end|>\n" +
            "<|user|>\nWhat is the capital of France?<|end|>\n" +
            "<|assistant|>\nParis.<|end|>\n" +
            "<|user|>\nAnd of Germany?<|end|>\n";

        Assert.Equal(turns + "<|assistant|>\n",
            template.Render(new ChatTemplateInput(Conversation) { AddGenerationPrompt = true, BosToken = "<s>", EosToken = "<|endoftext|>" }));
        Assert.Equal(turns + "<|endoftext|>",
            template.Render(new ChatTemplateInput(Conversation) { BosToken = "<s>", EosToken = "<|endoftext|>" }));
    }
}
