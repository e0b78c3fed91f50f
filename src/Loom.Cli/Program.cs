using System.CommandLine;

namespace Loom.Cli;

public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    /// <summary>The root command with every <c>loom</c> command, in the order <c>--help</c> lists them.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Loom: an LLM inference serving engine (continuous batching, paged KV cache, OpenAI-compatible server).");
        foreach (var command in Commands()) root.Subcommands.Add(command);
        return root;
    }

    /// <summary>Every top-level command, listed here rather than discovered, so adding one is a visible edit.</summary>
    private static IEnumerable<Command> Commands() =>
    [
        ServeCommand.Create(),
        RouterCommand.Create(),
        GenerateCommand.Create(),
        ChatCommand.Create(),
        TokenizeCommand.Create(),
        DetokenizeCommand.Create(),
        ConvertCommand.Create(),
        BenchCommand.Create(),
    ];
}
