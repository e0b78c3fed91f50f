namespace Loom.Server.Hosting;

/// <summary>
/// The default cap on open connections: <see cref="Default"/>, lowered when the process's file-descriptor limit
/// (RLIMIT_NOFILE, `ulimit -n`) leaves less than that after a reserve for the model files, the runtime and accept()
/// itself. Running out of descriptors aborts the .NET process ("Out of memory.", exit 134); refusing a connection
/// only closes it.
/// </summary>
public static class ConnectionLimit
{
    public const int Default = 4096;
    /// <summary>Descriptors kept free for everything that is not a client connection.</summary>
    public const int MinReserve = 256;

    public static int For(ServerOptions options) => options.MaxConcurrentConnections ?? FromFdLimit(OpenFileLimit());

    /// <summary>The default for a soft fd limit (null = unknown): its reserve is a quarter of the limit, at least <see cref="MinReserve"/>.</summary>
    public static int FromFdLimit(long? softLimit)
    {
        if (softLimit is not long limit) return Default;
        long reserve = Math.Max(MinReserve, limit / 4);
        return (int)Math.Clamp(limit - reserve, 16, Default);
    }

    /// <summary>The soft "Max open files" of this process from /proc/self/limits; null where there is none (not Linux).</summary>
    public static long? OpenFileLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal)) continue;
                var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return fields.Length > 0 && long.TryParse(fields[0], out var soft) ? soft : null;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}
