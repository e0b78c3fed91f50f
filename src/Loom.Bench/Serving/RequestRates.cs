using System.Globalization;

namespace Loom.Bench.Serving;

/// <summary>Parses --request-rate: one rate or a comma-separated sweep such as "1,2,4,inf".</summary>
public static class RequestRates
{
    public static IReadOnlyList<double> Parse(string text)
    {
        var rates = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            double rate = part.Equals("inf", StringComparison.OrdinalIgnoreCase) || part.Equals("infinity", StringComparison.OrdinalIgnoreCase)
                ? double.PositiveInfinity
                : double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) ? r
                : throw new FormatException($"--request-rate: '{part}' is not a number or 'inf'.");
            if (!(rate > 0)) throw new FormatException($"--request-rate: {part} must be positive.");
            rates.Add(rate);
        }
        if (rates.Count == 0) throw new FormatException("--request-rate: no rate given.");
        return rates;
    }

    public static double ParseScalar(string text, string option) =>
        text.Equals("inf", StringComparison.OrdinalIgnoreCase) ? double.PositiveInfinity
            : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
            : throw new FormatException($"{option}: '{text}' is not a number or 'inf'.");
}
