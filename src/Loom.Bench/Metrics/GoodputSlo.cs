using System.Globalization;

namespace Loom.Bench.Metrics;

/// <summary>
/// Service level objectives for goodput (DistServe's definition, as vLLM applies it): a request is good when every
/// configured metric is at or under its limit. Limits are in milliseconds.
/// </summary>
public sealed record GoodputSlo(double? TtftMs, double? TpotMs, double? E2elMs)
{
    public static GoodputSlo None { get; } = new(null, null, null);

    public bool IsEmpty => TtftMs is null && TpotMs is null && E2elMs is null;

    /// <summary>
    /// Parses pairs such as "ttft:500 tpot:50" (vLLM) or "ttft_ms=500" (Loom's issue text). Names: ttft, tpot, e2el,
    /// optionally suffixed "_ms"; values are non-negative milliseconds.
    /// </summary>
    public static GoodputSlo Parse(IEnumerable<string> pairs)
    {
        double? ttft = null, tpot = null, e2el = null;
        foreach (var raw in pairs.SelectMany(p => p.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries)))
        {
            int separator = raw.IndexOfAny([':', '=']);
            if (separator <= 0 || separator == raw.Length - 1)
                throw new FormatException($"--goodput: '{raw}' is not KEY:VALUE or KEY=VALUE (for example ttft:500 tpot:50, values in ms).");
            string name = raw[..separator].Trim().ToLowerInvariant();
            if (name.EndsWith("_ms", StringComparison.Ordinal)) name = name[..^3];
            if (!double.TryParse(raw[(separator + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
                throw new FormatException($"--goodput: the value of '{name}' must be a number of milliseconds, got '{raw[(separator + 1)..]}'.");
            if (value < 0) throw new FormatException($"--goodput: the value of '{name}' must be non-negative, got {value}.");
            switch (name)
            {
                case "ttft": ttft = value; break;
                case "tpot": tpot = value; break;
                case "e2el": e2el = value; break;
                default: throw new FormatException($"--goodput: unknown metric '{name}'; use ttft, tpot or e2el.");
            }
        }
        return new GoodputSlo(ttft, tpot, e2el);
    }

    /// <summary>Whether one request meets every limit. Times in seconds; tpot is 0 for outputs of one token, as in vLLM.</summary>
    public bool IsMetBy(double ttft, double tpot, double e2el) =>
        (TtftMs is not { } t || ttft <= t / 1000.0)
        && (TpotMs is not { } p || tpot <= p / 1000.0)
        && (E2elMs is not { } e || e2el <= e / 1000.0);

    public override string ToString() => string.Join(' ', new[]
    {
        TtftMs is { } t ? $"ttft:{t.ToString(CultureInfo.InvariantCulture)}" : null,
        TpotMs is { } p ? $"tpot:{p.ToString(CultureInfo.InvariantCulture)}" : null,
        E2elMs is { } e ? $"e2el:{e.ToString(CultureInfo.InvariantCulture)}" : null,
    }.Where(s => s is not null));
}
