using Loom.ChatTemplates;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Loom.Tests;

namespace Loom.Server.Tests.Server;

/// <summary>
/// A live server on the real engine and demo model, given Qwen2.5's published tool-calling chat template (so the
/// hermes parser is picked from it) and a <see cref="ScriptedReplyExecutor"/> that makes the model call get_weather
/// for Paris, and answer with the weather once the conversation holds a tool response.
/// </summary>
public sealed class ToolServerFixture : IAsyncLifetime
{
    public const string CallText = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
    public const string ParallelCallText = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
        + "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>";
    public const string Answer = "It is 21 degrees in Paris.";
    /// <summary>A call whose arguments break get_weather's strict schema (town for city): a grammar must not let it through.</summary>
    public const string WrongArgumentsText = "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"town\": \"Berlin\"}}\n</tool_call>";

    public LoomServer Server { get; private set; } = null!;
    public ServedModel Model { get; private set; } = null!;

    public static IChatTemplate QwenTemplate() => new JinjaChatTemplate(File.ReadAllText(
        Path.Combine(RepoPaths.Root, "tests", "Loom.ChatTemplates.Tests", "PublishedTemplates", "qwen2.5-instruct.jinja")));

    /// <summary>
    /// The scripted model's choice: the answer after a tool response; two calls when asked about two cities; a call with
    /// wrong arguments when asked about Berlin; one call when asked about the weather; else a greeting.
    /// </summary>
    public static string Reply(string conversation) =>
        conversation.Contains("<tool_response>", StringComparison.Ordinal) ? Answer
        : conversation.Contains("Paris and Rome", StringComparison.Ordinal) ? ParallelCallText
        : conversation.Contains("Berlin", StringComparison.Ordinal) ? WrongArgumentsText
        : conversation.Contains("weather", StringComparison.Ordinal) ? CallText
        : "Hello there.";

    public async Task InitializeAsync()
    {
        var engine = new EngineOptions { IdleSelfCheck = true, EnablePrefixCaching = false };
        var loaded = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engine });
        var tokenizer = loaded.Tokenizer!;
        var model = loaded with
        {
            ChatTemplate = QwenTemplate(),
            Executor = new ScriptedReplyExecutor(loaded.Executor, tokenizer, loaded.EosTokenIds[0], "<|im_start|>assistant\n", Reply),
        };
        Model = EngineHost.Start(model, engine);
        Server = await LoomServer.StartAsync(new ServerOptions { Host = "127.0.0.1", Port = 0 }, Model);
        await Server.ModelReady;
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
