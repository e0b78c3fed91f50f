using System.CommandLine;

namespace Loom.Cli;

/// <summary>One top-level <c>loom</c> command, each in its own file; <see cref="Program"/> lists them all.</summary>
public interface ICliCommand
{
    static abstract Command Create();
}
