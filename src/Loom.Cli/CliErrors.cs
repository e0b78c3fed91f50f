using System.CommandLine;
using Loom.ChatTemplates;
using Loom.Models;
using Loom.Tokenizers;

namespace Loom.Cli;

/// <summary>A mistake in how a command was called (conflicting or missing options): shown as is, exit status 1.</summary>
public sealed class CliUsageException(string message) : Exception(message);

/// <summary>
/// Runs a command body so that failures reach the user as one line on stderr ("error: ...") and exit status 1, never a
/// stack trace. Set LOOM_DEBUG=1 to get the full exception as well.
/// </summary>
public static class CliErrors
{
    public static int Run(ParseResult parseResult, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            return Report(parseResult, e);
        }
    }

    public static async Task<int> RunAsync(ParseResult parseResult, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e)
        {
            return Report(parseResult, e);
        }
    }

    /// <summary>Writes the failure to the command's error writer; returns the exit status (1, or 130 for cancellation).</summary>
    public static int Report(ParseResult parseResult, Exception e)
    {
        var error = parseResult.InvocationConfiguration.Error;
        if (e is OperationCanceledException)
        {
            error.WriteLine("cancelled");
            return 130;
        }
        error.WriteLine($"error: {Describe(e)}");
        if (Environment.GetEnvironmentVariable("LOOM_DEBUG") is "1" or "true") error.WriteLine(e);
        return 1;
    }

    /// <summary>The message alone for errors written for users; the type as well for anything unexpected.</summary>
    public static string Describe(Exception e) => e switch
    {
        ModelLoadException or TokenizerFormatException or ChatTemplateException or CliUsageException or ArgumentException
            or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or FormatException => e.Message,
        AggregateException { InnerExceptions.Count: 1 } agg => Describe(agg.InnerExceptions[0]),
        _ => $"{e.GetType().Name}: {e.Message}",
    };
}
