using System.CommandLine;
using Loom.Engine;
using Loom.Engine.ChatClient;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Microsoft.Extensions.AI;

namespace Loom.Cli;

/// <summary>
/// `loom chat`: an interactive terminal chat that streams the reply token by token, through the same
/// IChatClient an embedding application would use. An empty line or /exit ends it; /reset starts over.
/// </summary>
public sealed class ChatCommand : ICliCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model directory or .gguf file.", DefaultValueFactory = _ => "models/demo" };
        var system = new Option<string?>("--system") { Description = "System prompt." };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Longest reply in tokens." };
        var temperature = new Option<float?>("--temperature") { Description = "Sampling temperature (default: the model's)." };
        var device = new Option<string>("--device") { Description = "Backend: auto or cpu (auto = the best available: the CPU today; a CUDA backend is planned, not built).", DefaultValueFactory = _ => "auto" };
        var command = new Command("chat", "Chat with a model in the terminal (streams tokens).") { model, system, maxTokens, temperature, device };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            var engineOptions = new EngineOptions();
            var loaded = ModelLoader.Load(parse.GetValue(model)!, new LoaderOptions { Backend = parse.GetValue(device)!, Engine = engineOptions,
                Log = Console.Error.WriteLine });
            var served = EngineHost.Start(loaded, engineOptions);
            await using var owner = served.Owner!;
            using var client = new LoomChatClient(served.Engine, served.Tokenizer, served.ChatTemplate, new LoomChatClientOptions
            {
                ModelId = served.Name, MaxModelLen = served.MaxModelLen, GenerationConfig = served.GenerationConfig,
            });
            var options = new ChatOptions { MaxOutputTokens = parse.GetValue(maxTokens), Temperature = parse.GetValue(temperature) };
            await RunLoopAsync(client, options, parse.GetValue(system), ct);
            return 0;
        }));
        return command;
    }

    private static async Task RunLoopAsync(IChatClient client, ChatOptions options, string? system, CancellationToken ct)
    {
        var history = new List<ChatMessage>();
        if (system is not null) history.Add(new ChatMessage(ChatRole.System, system));
        int start = history.Count;
        Console.Error.WriteLine("Type a message; /reset clears the conversation, an empty line or /exit quits.");
        while (!ct.IsCancellationRequested)
        {
            Console.Write("> ");
            var line = Console.ReadLine();
            if (string.IsNullOrWhiteSpace(line) || line.Trim() == "/exit") break;
            if (line.Trim() == "/reset") { history.RemoveRange(start, history.Count - start); continue; }
            history.Add(new ChatMessage(ChatRole.User, line));
            var reply = new System.Text.StringBuilder();
            await foreach (var update in client.GetStreamingResponseAsync(history, options, ct))
            {
                Console.Write(update.Text);
                reply.Append(update.Text);
            }
            Console.WriteLine();
            history.Add(new ChatMessage(ChatRole.Assistant, reply.ToString()));
        }
    }
}
