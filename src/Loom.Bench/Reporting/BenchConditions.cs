using System.Globalization;
using System.Runtime.InteropServices;

namespace Loom.Bench.Reporting;

/// <summary>
/// The conditions a number was measured under (model, dtype, backend, machine, server flags, load), written into every
/// result so no figure travels without them. Keys and values are free text; the machine entries are filled in here.
/// </summary>
public static class BenchConditions
{
    public static Dictionary<string, string> Describe(IEnumerable<KeyValuePair<string, string>> given)
    {
        var conditions = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["machine"] = MachineDescription(),
            ["os"] = RuntimeInformation.OSDescription,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["logical_cpus"] = Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture),
        };
        if (LoadAverage() is { } load) conditions["load_average_at_start"] = load;
        foreach (var (key, value) in given) conditions[key] = value;
        return conditions;
    }

    /// <summary>Parses --metadata KEY=VALUE pairs.</summary>
    public static IEnumerable<KeyValuePair<string, string>> ParsePairs(IEnumerable<string> pairs, string option) =>
        pairs.Select(p =>
        {
            int eq = p.IndexOf('=');
            if (eq <= 0) throw new FormatException($"{option}: '{p}' is not KEY=VALUE.");
            return KeyValuePair.Create(p[..eq].Trim(), p[(eq + 1)..].Trim());
        });

    private static string MachineDescription()
    {
        string cpu = RuntimeInformation.ProcessArchitecture.ToString();
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return $"{cpu}, {Environment.ProcessorCount} logical CPUs";
    }

    /// <summary>1/5/15-minute load averages: evidence of other work on the machine during the run.</summary>
    private static string? LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
