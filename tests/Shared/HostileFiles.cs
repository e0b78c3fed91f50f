using System.Diagnostics;

namespace Loom.Tests;

/// <summary>Helpers for tests of hostile model files: FIFOs, and a guard that turns a hang into a failure.</summary>
internal static class HostileFiles
{
    /// <summary>Creates a FIFO with mkfifo(1); false where there is none (Windows, a minimal image).</summary>
    public static bool TryMakeFifo(string path)
    {
        if (OperatingSystem.IsWindows()) return false;
        try
        {
            using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { RedirectStandardError = true });
            if (mkfifo is null || !mkfifo.WaitForExit(10_000)) return false;
            return mkfifo.ExitCode == 0 && File.Exists(path);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> on the thread pool and returns what it threw, failing the test if it has not
    /// ended within <paramref name="limit"/> (on the code before the fix these calls never return).
    /// </summary>
    public static Exception? ThrownWithin(TimeSpan limit, Action action)
    {
        var run = Task.Run(action);
        try
        {
            if (!run.Wait(limit)) Xunit.Assert.Fail($"still running after {limit.TotalSeconds} s: it hangs");
            return null;
        }
        catch (AggregateException e)
        {
            return e.InnerException;
        }
    }
}
