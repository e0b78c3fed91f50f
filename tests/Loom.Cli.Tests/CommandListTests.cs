using System.CommandLine;
using System.CommandLine.Help;

namespace Loom.Cli.Tests;

/// <summary>The one <c>--help</c> names every command, and each command explains each of its options.</summary>
public sealed class CommandListTests
{
    private static readonly string[] Expected = ["serve", "router", "generate", "chat", "tokenize", "detokenize", "convert", "bench"];

    [Fact]
    public void Root_lists_every_command_in_help_order()
    {
        var names = Program.BuildRoot().Subcommands.Select(c => c.Name).ToArray();
        Assert.Equal(Expected, names);
    }

    [Fact]
    public void Root_help_names_every_command_with_a_description()
    {
        var output = new StringWriter();
        var exit = Program.BuildRoot().Parse(["--help"]).Invoke(new InvocationConfiguration { Output = output });
        Assert.Equal(0, exit);
        foreach (var name in Expected) Assert.Contains(name, output.ToString());
        Assert.All(Program.BuildRoot().Subcommands, c => Assert.False(string.IsNullOrWhiteSpace(c.Description), c.Name));
    }

    [Fact]
    public void Every_option_of_every_command_has_a_description()
    {
        var undescribed = Walk(Program.BuildRoot())
            .SelectMany(c => c.Options.Where(o => o is not HelpOption and not VersionOption && string.IsNullOrWhiteSpace(o.Description))
                .Select(o => $"{c.Name} {o.Name}"))
            .ToArray();
        Assert.True(undescribed.Length == 0, string.Join(", ", undescribed));
    }

    [Fact]
    public void An_unknown_option_is_a_usage_error_not_a_crash()
    {
        var error = new StringWriter();
        var exit = Program.BuildRoot().Parse(["generate", "--no-such-flag"]).Invoke(new InvocationConfiguration { Error = error, Output = TextWriter.Null });
        Assert.NotEqual(0, exit);
        Assert.Contains("--no-such-flag", error.ToString());
    }

    private static IEnumerable<Command> Walk(Command command) => command.Subcommands.SelectMany(Walk).Prepend(command);
}
