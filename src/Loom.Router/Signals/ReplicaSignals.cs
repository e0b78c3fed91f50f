using System.Globalization;

namespace Loom.Router.Signals;

/// <summary>
/// One replica's gauges as last scraped from its /metrics, under vLLM's names with Loom's "loom_" prefix or vLLM's own
/// "vllm:" (num_requests_waiting, num_requests_running, kv_cache_usage_perc or the older gpu_cache_usage_perc,
/// cache_config_info's block_size and num_gpu_blocks labels), so the router also balances vLLM replicas.
/// </summary>
/// <param name="KvEventsPort">Loom's loom_kv_events_port: where the replica streams KV cache events; null = it does not.</param>
public sealed record ReplicaSignals(double Waiting, double Running, double KvCacheUsage, int? BlockSize, int? NumBlocks, int? KvEventsPort = null)
{
    public static ReplicaSignals Unknown { get; } = new(0, 0, 0, null, null);

    /// <summary>Reads the gauges from Prometheus text exposition; a gauge that is missing reads as 0 (or null).</summary>
    public static ReplicaSignals Parse(string metricsText)
    {
        ArgumentNullException.ThrowIfNull(metricsText);
        double waiting = 0, running = 0, kv = 0;
        int? blockSize = null, numBlocks = null, kvEventsPort = null;
        foreach (var raw in metricsText.AsSpan().EnumerateLines())
        {
            var line = raw.Trim();
            if (line.IsEmpty || line[0] == '#') continue;
            var name = MetricName(line);
            if (name.EndsWith("num_requests_waiting")) waiting = Value(line);
            else if (name.EndsWith("num_requests_running")) running = Value(line);
            else if (name.EndsWith("kv_cache_usage_perc") || name.EndsWith("gpu_cache_usage_perc")) kv = Value(line);
            else if (name.EndsWith("kv_events_port") && Value(line) is >= 1 and <= 65535 and var port) kvEventsPort = (int)port;
            else if (name.EndsWith("cache_config_info"))
            {
                blockSize = Label(line, "block_size");
                numBlocks = Label(line, "num_gpu_blocks");
            }
        }
        return new ReplicaSignals(waiting, running, kv, blockSize, numBlocks, kvEventsPort);
    }

    private static ReadOnlySpan<char> MetricName(ReadOnlySpan<char> line)
    {
        int end = line.IndexOfAny('{', ' ');
        return end < 0 ? line : line[..end];
    }

    private static double Value(ReadOnlySpan<char> line)
    {
        int space = line.LastIndexOf(' ');
        return space > 0 && double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? v : 0;
    }

    private static int? Label(ReadOnlySpan<char> line, string label)
    {
        var key = label + "=\"";
        int start = line.IndexOf(key);
        if (start < 0) return null;
        var rest = line[(start + key.Length)..];
        int end = rest.IndexOf('"');
        return end > 0 && int.TryParse(rest[..end], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;
    }
}
