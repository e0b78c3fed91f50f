using System.CommandLine;

namespace Loom.Cli;

/// <summary>One top-level `loom` command. Program discovers every implementation, so each command lives in its own file.</summary>
public interface ICliCommand
{
    /// <summary>Sort key for --help (lower first).</summary>
    static abstract int Order { get; }
    static abstract Command Create();
}
