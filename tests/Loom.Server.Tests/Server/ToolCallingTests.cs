using System.ClientModel;
using System.Text;
using System.Text.Json;
using Loom.Engine.ChatClient;
using Loom.Server.Tests.Server.Fakes;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiFinishReason = Microsoft.Extensions.AI.ChatFinishReason;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace Loom.Server.Tests.Server;

/// <summary>
/// Tool calling end to end on the real engine (a scripted executor chooses the tokens): the official OpenAI .NET
/// client runs a tool round trip streaming and not, Microsoft.Extensions.AI's function invocation runs it in process,
/// and bad tool requests get 400s in OpenAI's error shape while the server keeps serving.
/// </summary>
public sealed partial class ToolCallingTests(ToolServerFixture fixture) : IClassFixture<ToolServerFixture>
{
    private static readonly ChatTool Weather = ChatTool.CreateFunctionTool("get_weather", "Get the current weather for a city.",
        BinaryData.FromString("""{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"""),
        functionSchemaIsStrict: true);

    private OpenAI.Chat.ChatClient Chat() => new OpenAIClient(new ApiKeyCredential("unused"),
        new OpenAIClientOptions { Endpoint = new Uri(fixture.Server.BaseUrl + "/v1") }).GetChatClient("demo");

    private static ChatCompletionOptions Options() => new() { Tools = { Weather }, MaxOutputTokenCount = 200 };

    [Fact]
    public async Task OpenAI_client_runs_a_tool_round_trip()
    {
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("What is the weather in Paris?")];
        ChatCompletion first = await Chat().CompleteChatAsync(messages, Options());
        Assert.Equal(ChatFinishReason.ToolCalls, first.FinishReason);
        Assert.Equal("Let me check.", Assert.Single(first.Content).Text);
        var call = Assert.Single(first.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.StartsWith("call_", call.Id);
        Assert.Equal("Paris", JsonDocument.Parse(call.FunctionArguments).RootElement.GetProperty("city").GetString());

        messages.Add(new AssistantChatMessage(first));
        messages.Add(new ToolChatMessage(call.Id, """{"temperature": 21}"""));
        ChatCompletion second = await Chat().CompleteChatAsync(messages, Options());
        Assert.Equal(ChatFinishReason.Stop, second.FinishReason);
        Assert.Empty(second.ToolCalls);
        Assert.Equal(ToolServerFixture.Answer, second.Content[0].Text);
    }

    [Fact]
    public async Task OpenAI_client_streams_a_tool_round_trip()
    {
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("What is the weather in Paris?")];
        var (content, calls, finish) = await StreamAsync(messages);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal("Let me check.", content);
        var (id, name, arguments) = Assert.Single(calls);
        Assert.Equal("get_weather", name);
        Assert.Equal("{\"city\": \"Paris\"}", arguments);

        messages.Add(new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall(id, name, BinaryData.FromString(arguments))]));
        messages.Add(new ToolChatMessage(id, """{"temperature": 21}"""));
        var (answer, none, stop) = await StreamAsync(messages);
        Assert.Equal(ChatFinishReason.Stop, stop);
        Assert.Empty(none);
        Assert.Equal(ToolServerFixture.Answer, answer);
    }

    [Fact]
    public async Task Parallel_calls_stream_with_their_indexes_as_the_whole_response_lists_them()
    {
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("Weather in Paris and Rome?")];
        ChatCompletion whole = await Chat().CompleteChatAsync(messages, Options());
        Assert.Equal(["Paris", "Rome"], whole.ToolCalls.Select(c => JsonDocument.Parse(c.FunctionArguments).RootElement.GetProperty("city").GetString()));
        Assert.Empty(whole.Content);
        var (content, calls, finish) = await StreamAsync(messages);
        Assert.Equal("", content);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal(whole.ToolCalls.Select(c => (c.FunctionName, c.FunctionArguments.ToString())), calls.Select(c => (c.Name, c.Arguments)));

        var options = Options();
        options.AllowParallelToolCalls = false;
        ChatCompletion single = await Chat().CompleteChatAsync(messages, options);
        Assert.Single(single.ToolCalls);
    }

    /// <summary>Streams a reply, putting calls together by index: the name from their first chunk, then the arguments pieces.</summary>
    private async Task<(string Content, List<(string Id, string Name, string Arguments)> Calls, ChatFinishReason? Finish)> StreamAsync(
        List<OpenAI.Chat.ChatMessage> messages, ChatCompletionOptions? options = null)
    {
        var content = new StringBuilder();
        var calls = new SortedDictionary<int, (string Id, string Name, StringBuilder Arguments)>();
        ChatFinishReason? finish = null;
        await foreach (var update in Chat().CompleteChatStreamingAsync(messages, options ?? Options()))
        {
            foreach (var part in update.ContentUpdate) content.Append(part.Text);
            foreach (var call in update.ToolCallUpdates)
            {
                if (call.ToolCallId is not null)
                {
                    Assert.False(calls.ContainsKey(call.Index), "the name comes once per call");
                    calls[call.Index] = (call.ToolCallId, call.FunctionName, new StringBuilder());
                }
                calls[call.Index].Arguments.Append(call.FunctionArgumentsUpdate?.ToString());
            }
            finish ??= update.FinishReason;
        }
        return (content.ToString(), calls.Values.Select(c => (c.Id, c.Name, c.Arguments.ToString())).ToList(), finish);
    }

    [Fact]
    public async Task The_http_shapes_are_openais()
    {
        using var client = TestServers.Client(fixture.Server);
        var (status, body) = await TestServers.PostAsync(client, "/v1/chat/completions", """
            {"messages": [{"role": "user", "content": "weather in Paris?"}], "max_tokens": 200,
             "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]}
            """);
        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var call = choice.GetProperty("message").GetProperty("tool_calls")[0];
        Assert.Equal(["id", "type", "function"], call.EnumerateObject().Select(p => p.Name));
        Assert.Equal("function", call.GetProperty("type").GetString());
        Assert.Equal(["name", "arguments"], call.GetProperty("function").EnumerateObject().Select(p => p.Name));
        Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("{\"city\": \"Paris\"}", call.GetProperty("function").GetProperty("arguments").GetString());

        using var stream = await client.PostAsync("/v1/chat/completions", TestServers.Json("""
            {"messages": [{"role": "user", "content": "weather in Paris?"}], "max_tokens": 200, "stream": true,
             "tools": [{"type": "function", "function": {"name": "get_weather"}}]}
            """));
        var chunks = TestServers.SseData(await stream.Content.ReadAsStringAsync()).SkipLast(1)
            .Select(d => JsonDocument.Parse(d).RootElement.GetProperty("choices")[0]).ToList();
        var toolChunks = chunks.Where(c => c.GetProperty("delta").TryGetProperty("tool_calls", out _)).ToList();
        Assert.Equal(2, toolChunks.Count);
        var named = toolChunks[0].GetProperty("delta").GetProperty("tool_calls")[0];
        Assert.Equal(["index", "id", "type", "function"], named.EnumerateObject().Select(p => p.Name));
        Assert.Equal(0, named.GetProperty("index").GetInt32());
        Assert.StartsWith("call_", named.GetProperty("id").GetString());
        Assert.Equal("function", named.GetProperty("type").GetString());
        Assert.Equal("get_weather", named.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("", named.GetProperty("function").GetProperty("arguments").GetString());
        var arguments = toolChunks[1].GetProperty("delta").GetProperty("tool_calls")[0];
        Assert.Equal(["index", "function"], arguments.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["arguments"], arguments.GetProperty("function").EnumerateObject().Select(p => p.Name));
        Assert.Equal("{\"city\": \"Paris\"}", arguments.GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal("tool_calls", chunks[^1].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Tool_choice_none_reads_no_calls()
    {
        var options = Options();
        options.ToolChoice = ChatToolChoice.CreateNoneChoice();
        ChatCompletion c = await Chat().CompleteChatAsync([new UserChatMessage("What is the weather in Paris?")], options);
        Assert.Empty(c.ToolCalls);
        Assert.Equal(ChatFinishReason.Stop, c.FinishReason);
        Assert.Equal(ToolServerFixture.CallText, c.Content[0].Text);
    }

    public static TheoryData<string, string, string> BadRequests() => new()
    {
        { """ "tool_choice": "required", "response_format": {"type": "json_object"} """, "tool_choice", "response_format" },
        { """ "tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"if": {}}}}}}] """, "tools", "'f'" },
        { """ "tools": [{"type": "function", "function": {"name": "f", "strict": true}}], "guided_regex": "a" """, "tools", "response_format" },
        { """ "tool_choice": {"type": "function", "function": {"name": "nope"}} """, "tool_choice", "nope" },
        { """ "tool_choice": "sometimes" """, "tool_choice", "sometimes" },
        { """ "tools": [{"type": "function", "function": {"description": "no name"}}] """, "tools[0].function.name", "required" },
        { """ "tools": [{"type": "function", "function": {"name": "bad name!"}}] """, "tools[0].function.name", "letters" },
        { """ "tools": [{"type": "function", "function": {"name": "f", "parameters": "a string"}}] """, "tools[0].function.parameters", "JSON Schema object" },
        { """ "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}] """, "tools[0].function.parameters", "object" },
        { """ "tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}] """, "tools[1].function.name", "twice" },
        { """ "tools": [{"type": "retrieval"}] """, "tools[0].type", "function" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_tool_requests_are_400s_and_the_server_keeps_serving(string fields, string param, string says)
    {
        using var client = TestServers.Client(fixture.Server);
        var json = """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, """
            + (fields.Contains("\"tools\"") ? fields : fields + """, "tools": [{"type": "function", "function": {"name": "get_weather"}}]""") + "}";
        var (status, body) = await TestServers.PostAsync(client, "/v1/chat/completions", json);
        Assert.Equal(400, status);
        var error = body.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains(says, error.GetProperty("message").GetString());
        var (ok, _) = await TestServers.PostAsync(client, "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}""");
        Assert.Equal(200, ok);
    }

    public static TheoryData<string, string> BadConversations() => new()
    {
        { """[{"role": "user", "content": "hi"}, {"role": "tool", "content": "21", "tool_call_id": "call_x"}]""", "messages[1].tool_call_id" },
        { """[{"role": "user", "content": "hi"}, {"role": "tool", "content": "21"}]""", "messages[1].tool_call_id" },
        { """[{"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "not json"}}]}]""", "messages[0].tool_calls[0].function.arguments" },
        { """[{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]""", "messages[0].tool_calls[0].id" },
        { """[{"role": "user", "content": "hi", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}]}]""", "messages[0].tool_calls" },
    };

    [Theory]
    [MemberData(nameof(BadConversations))]
    public async Task Bad_tool_conversations_are_400s(string messages, string param)
    {
        using var client = TestServers.Client(fixture.Server);
        var (status, body) = await TestServers.PostAsync(client, "/v1/chat/completions", $$"""{"messages": {{messages}}, "max_tokens": 4}""");
        Assert.Equal(400, status);
        Assert.Equal(param, body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task Auto_without_a_parser_is_a_400_not_an_unparsed_answer()
    {
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel());
        using var client = TestServers.Client(server);
        var (status, body) = await TestServers.PostAsync(client, "/v1/chat/completions", """
            {"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f"}}]}
            """);
        Assert.Equal(400, status);
        Assert.Contains("--tool-call-parser", body.GetProperty("error").GetProperty("message").GetString());
        var (none, _) = await TestServers.PostAsync(client, "/v1/chat/completions", """
            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "tool_choice": "none", "tools": [{"type": "function", "function": {"name": "f"}}]}
            """);
        Assert.Equal(200, none);
    }

    private static readonly BinaryData CitySchema = BinaryData.FromString(
        """{"type": "object", "properties": {"city": {"enum": ["Paris", "Rome"]}}, "required": ["city"], "additionalProperties": false}""");

    private static readonly ChatTool StrictWeather = ChatTool.CreateFunctionTool("get_weather", "Weather for a city.", CitySchema, functionSchemaIsStrict: true);

    private static readonly ChatTool Time = ChatTool.CreateFunctionTool("get_time", "The time in a zone.", BinaryData.FromString(
        """{"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"], "additionalProperties": false}"""));

    private static void AssertArgumentsValid(BinaryData schema, string arguments)
    {
        using var doc = JsonDocument.Parse(arguments);
        var validator = Json.Schema.JsonSchema.FromText(schema.ToString(), new Json.Schema.BuildOptions { SchemaRegistry = new Json.Schema.SchemaRegistry() });
        Assert.True(validator.Evaluate(doc.RootElement).IsValid, arguments);
    }

    [Fact]
    public async Task Required_forces_a_valid_call_where_the_model_would_write_text_first()
    {
        var options = new ChatCompletionOptions { Tools = { StrictWeather }, MaxOutputTokenCount = 200, ToolChoice = ChatToolChoice.CreateRequiredChoice() };
        ChatCompletion whole = await Chat().CompleteChatAsync([new UserChatMessage("What is the weather in Paris?")], options);
        Assert.Equal(ChatFinishReason.ToolCalls, whole.FinishReason);
        Assert.Empty(whole.Content);
        var call = Assert.Single(whole.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        AssertArgumentsValid(CitySchema, call.FunctionArguments.ToString());

    }

    [Fact]
    public async Task Required_with_parallel_calls_keeps_the_models_calls()
    {
        var options = new ChatCompletionOptions { Tools = { StrictWeather }, MaxOutputTokenCount = 200, ToolChoice = ChatToolChoice.CreateRequiredChoice() };
        ChatCompletion whole = await Chat().CompleteChatAsync([new UserChatMessage("Weather in Paris and Rome?")], options);
        Assert.Equal(["Paris", "Rome"], whole.ToolCalls.Select(c => JsonDocument.Parse(c.FunctionArguments).RootElement.GetProperty("city").GetString()));
        options.AllowParallelToolCalls = false;
        ChatCompletion single = await Chat().CompleteChatAsync([new UserChatMessage("Weather in Paris and Rome?")], options);
        Assert.Equal("Paris", JsonDocument.Parse(Assert.Single(single.ToolCalls).FunctionArguments).RootElement.GetProperty("city").GetString());
    }

    [Fact]
    public async Task Constrained_calls_stream_their_arguments_as_they_are_generated()
    {
        var options = new ChatCompletionOptions { Tools = { StrictWeather }, MaxOutputTokenCount = 200, ToolChoice = ChatToolChoice.CreateRequiredChoice() };
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("Weather in Paris and Rome?")];
        ChatCompletion whole = await Chat().CompleteChatAsync(messages, options);
        var names = new Dictionary<int, string>();
        var pieces = new Dictionary<int, List<string>>();
        await foreach (var update in Chat().CompleteChatStreamingAsync(messages, options))
            foreach (var call in update.ToolCallUpdates)
            {
                if (call.FunctionName is not null) Assert.True(names.TryAdd(call.Index, call.FunctionName), "the name comes once per call");
                var piece = call.FunctionArgumentsUpdate?.ToString();
                if (!string.IsNullOrEmpty(piece)) (pieces.TryGetValue(call.Index, out var list) ? list : pieces[call.Index] = []).Add(piece);
            }
        Assert.Equal([0, 1], names.Keys.Order());
        Assert.Equal(whole.ToolCalls.Select(c => c.FunctionArguments.ToString()), pieces.OrderBy(p => p.Key).Select(p => string.Concat(p.Value)));
        Assert.All(pieces.Values, p => Assert.True(p.Count > 2, $"arguments came in {p.Count} pieces"));
    }

    [Fact]
    public async Task A_named_function_is_the_one_called()
    {
        var options = new ChatCompletionOptions
        {
            Tools = { StrictWeather, Time }, MaxOutputTokenCount = 200, ToolChoice = ChatToolChoice.CreateFunctionChoice("get_time"),
        };
        ChatCompletion whole = await Chat().CompleteChatAsync([new UserChatMessage("What is the weather in Paris?")], options);
        var call = Assert.Single(whole.ToolCalls);
        Assert.Equal("get_time", call.FunctionName);
        Assert.Contains(JsonDocument.Parse(call.FunctionArguments).RootElement.GetProperty("zone").GetString(), (string[])["UTC", "CET"]);
        var (content, calls, finish) = await StreamAsync([new UserChatMessage("What is the weather in Paris?")], options);
        Assert.Equal("", content);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal("get_time", Assert.Single(calls).Name);
        Assert.Contains(JsonDocument.Parse(calls[0].Arguments).RootElement.GetProperty("zone").GetString(), (string[])["UTC", "CET"]);
    }

    [Fact]
    public async Task Strict_under_auto_lets_text_through_and_constrains_the_call_once_begun()
    {
        var options = new ChatCompletionOptions { Tools = { StrictWeather }, MaxOutputTokenCount = 200 };
        ChatCompletion wrong = await Chat().CompleteChatAsync([new UserChatMessage("What about Berlin?")], options);
        Assert.Equal("Sure.", wrong.Content[0].Text);
        var call = Assert.Single(wrong.ToolCalls);
        AssertArgumentsValid(CitySchema, call.FunctionArguments.ToString());

        var loose = new ChatCompletionOptions { Tools = { ChatTool.CreateFunctionTool("get_weather", "Weather.", CitySchema) }, MaxOutputTokenCount = 200 };
        ChatCompletion asWritten = await Chat().CompleteChatAsync([new UserChatMessage("What about Berlin?")], loose);
        Assert.Equal("{\"town\": \"Berlin\"}", Assert.Single(asWritten.ToolCalls).FunctionArguments.ToString());
    }

    [Fact]
    public async Task Function_invocation_runs_the_tool_loop_in_process()
    {
        var model = fixture.Model;
        using var loom = new LoomChatClient(model.Engine, model.Tokenizer, model.ChatTemplate,
            new LoomChatClientOptions { MaxModelLen = model.MaxModelLen, DefaultMaxTokens = 200 });
        var cities = new List<string>();
        var weather = AIFunctionFactory.Create((string city) => { cities.Add(city); return new { temperature = 21 }; }, "get_weather",
            "Get the current weather for a city.");
        using var client = new ChatClientBuilder(loom).UseFunctionInvocation().Build();
        var options = new ChatOptions { Tools = [weather] };

        var response = await client.GetResponseAsync([new AiChatMessage(ChatRole.User, "What is the weather in Paris?")], options);
        Assert.Equal(["Paris"], cities);
        Assert.Equal(ToolServerFixture.Answer, response.Messages[^1].Text);
        Assert.Equal(AiFinishReason.Stop, response.FinishReason);
        Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionResultContent>().Any());

        var streamed = new StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync([new AiChatMessage(ChatRole.User, "What is the weather in Paris?")], options))
            streamed.Append(update.Text);
        Assert.Equal(["Paris", "Paris"], cities);
        Assert.EndsWith(ToolServerFixture.Answer, streamed.ToString());
    }

    [Fact]
    public async Task Chat_client_returns_function_calls_and_enforces_required_tool_modes()
    {
        var model = fixture.Model;
        using var loom = new LoomChatClient(model.Engine, model.Tokenizer, model.ChatTemplate,
            new LoomChatClientOptions { MaxModelLen = model.MaxModelLen, DefaultMaxTokens = 200, Grammars = model.Grammars });
        var tool = AIFunctionFactory.Create((string city) => "21", "get_weather");
        var response = await loom.GetResponseAsync([new AiChatMessage(ChatRole.User, "weather in Paris?")], new ChatOptions { Tools = [tool] });
        Assert.Equal(AiFinishReason.ToolCalls, response.FinishReason);
        var call = Assert.Single(response.Messages[0].Contents.OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("Paris", ((JsonElement)call.Arguments!["city"]!).GetString());

        var time = AIFunctionFactory.Create((string zone) => "12:00", "get_time");
        var named = await loom.GetResponseAsync([new AiChatMessage(ChatRole.User, "Weather in Paris and Rome?")],
            new ChatOptions { Tools = [tool, time], ToolMode = ChatToolMode.RequireSpecific("get_weather"), AllowMultipleToolCalls = false });
        Assert.Equal("Paris", ((JsonElement)Assert.Single(named.Messages[0].Contents.OfType<FunctionCallContent>()).Arguments!["city"]!).GetString());

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => loom.GetResponseAsync([new AiChatMessage(ChatRole.User, "hi")],
            new ChatOptions { Tools = [tool], ToolMode = ChatToolMode.RequireAny, ResponseFormat = Microsoft.Extensions.AI.ChatResponseFormat.Json }));
        Assert.Equal("tool_choice", error.ParamName);
    }

    [Fact]
    public async Task Function_invocation_with_a_required_tool_mode_runs_the_loop_to_the_answer()
    {
        var model = fixture.Model;
        using var loom = new LoomChatClient(model.Engine, model.Tokenizer, model.ChatTemplate,
            new LoomChatClientOptions { MaxModelLen = model.MaxModelLen, DefaultMaxTokens = 200 });
        var cities = new List<string>();
        var weather = AIFunctionFactory.Create((string city) => { cities.Add(city); return new { temperature = 21 }; }, "get_weather");
        using var client = new ChatClientBuilder(loom).UseFunctionInvocation().Build();
        var options = new ChatOptions { Tools = [weather], ToolMode = ChatToolMode.RequireAny };
        var response = await client.GetResponseAsync([new AiChatMessage(ChatRole.User, "Weather in Paris and Rome?")], options);
        Assert.Equal(["Paris", "Rome"], cities);
        Assert.Equal(ToolServerFixture.Answer, response.Messages[^1].Text);
    }
}
