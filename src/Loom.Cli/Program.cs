using System.CommandLine;
using System.Reflection;

namespace Loom.Cli;

public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    /// <summary>The root command with every <see cref="ICliCommand"/> in this assembly, in their Order.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Loom: an LLM inference serving engine (continuous batching, paged KV cache, OpenAI-compatible server).");
        var commands = typeof(Program).Assembly.GetTypes()
            .Where(t => t.IsClass && typeof(ICliCommand).IsAssignableFrom(t))
            .Select(t => (Order: (int)t.GetProperty(nameof(ICliCommand.Order), BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!,
                          Create: t.GetMethod(nameof(ICliCommand.Create), BindingFlags.Public | BindingFlags.Static)!))
            .OrderBy(c => c.Order);
        foreach (var c in commands) root.Subcommands.Add((Command)c.Create.Invoke(null, null)!);
        return root;
    }
}
