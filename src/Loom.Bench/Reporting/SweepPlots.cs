using System.Globalization;
using Loom.Bench.Metrics;
using ScottPlot;

namespace Loom.Bench.Reporting;

/// <summary>One configuration's runs across request rates, for the plots (a "series").</summary>
public sealed record SweepSeries(string Label, IReadOnlyList<(double RequestRate, BenchmarkMetrics Metrics)> Points);

/// <summary>
/// PNG charts of a sweep: latency percentiles against request rate and throughput against request rate, one line per
/// series so configurations compare at a glance. Rate infinity is drawn one step right of the largest finite rate.
/// </summary>
public static class SweepPlots
{
    private static readonly IPalette Colors = new ScottPlot.Palettes.Category10();

    /// <returns>The paths written: latency_vs_rate.png and throughput_vs_rate.png under the directory, with the prefix.</returns>
    public static IReadOnlyList<string> Save(IReadOnlyList<SweepSeries> series, string directory, string filePrefix = "", double percentile = 99)
    {
        if (series.Count == 0 || series.All(s => s.Points.Count == 0)) throw new ArgumentException("nothing to plot: no runs.", nameof(series));
        Directory.CreateDirectory(directory);
        var axis = RateAxis.For(series.SelectMany(s => s.Points.Select(p => p.RequestRate)));
        string p = new PercentileValue(percentile, 0).Word;

        var latency = Stack(
            LatencyPlot(series, axis, "Time to first token", m => m.Ttft, percentile, p),
            LatencyPlot(series, axis, "Time per output token (excl. 1st)", m => m.Tpot, percentile, p),
            LatencyPlot(series, axis, "Inter-token latency", m => m.Itl, percentile, p),
            LatencyPlot(series, axis, "End-to-end latency", m => m.E2el, percentile, p));
        string latencyPath = Path.Combine(directory, filePrefix + "latency_vs_rate.png");
        latency.SavePng(latencyPath, 900, 1500);

        var throughput = Stack(
            ValuePlot(series, axis, "Output token throughput", "tokens/s", m => m.OutputThroughput),
            ValuePlot(series, axis, "Request throughput", "requests/s", m => m.RequestThroughput));
        string throughputPath = Path.Combine(directory, filePrefix + "throughput_vs_rate.png");
        throughput.SavePng(throughputPath, 900, 800);
        return [latencyPath, throughputPath];
    }

    /// <summary>Plots stacked top to bottom (a new Multiplot holds one empty plot, which Reset replaces).</summary>
    private static Multiplot Stack(Plot first, params Plot[] rest)
    {
        var multiplot = new Multiplot();
        multiplot.Reset(first);
        foreach (var plot in rest) multiplot.AddPlot(plot);
        return multiplot;
    }

    private static Plot LatencyPlot(IReadOnlyList<SweepSeries> series, RateAxis axis, string title, Func<BenchmarkMetrics, MetricSummary> metric, double percentile, string p)
    {
        var plot = NewPlot(title, "ms", axis);
        for (int i = 0; i < series.Count; i++)
        {
            var points = series[i].Points.OrderBy(x => axis.Position(x.RequestRate)).ToArray();
            double[] xs = [.. points.Select(x => axis.Position(x.RequestRate))];
            var median = plot.Add.Scatter(xs, points.Select(x => metric(x.Metrics).MedianMs).ToArray());
            median.LegendText = $"{series[i].Label} median";
            median.Color = Colors.GetColor(i);
            var tail = plot.Add.Scatter(xs, points.Select(x => metric(x.Metrics).Percentiles.FirstOrDefault(v => v.Percentile == percentile).ValueMs).ToArray());
            tail.LegendText = $"{series[i].Label} p{p}";
            tail.Color = Colors.GetColor(i);
            tail.LinePattern = LinePattern.Dashed;
        }
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static Plot ValuePlot(IReadOnlyList<SweepSeries> series, RateAxis axis, string title, string unit, Func<BenchmarkMetrics, double> value)
    {
        var plot = NewPlot(title, unit, axis);
        for (int i = 0; i < series.Count; i++)
        {
            var points = series[i].Points.OrderBy(x => axis.Position(x.RequestRate)).ToArray();
            var line = plot.Add.Scatter(points.Select(x => axis.Position(x.RequestRate)).ToArray(), points.Select(x => value(x.Metrics)).ToArray());
            line.LegendText = series[i].Label;
            line.Color = Colors.GetColor(i);
        }
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static Plot NewPlot(string title, string unit, RateAxis axis)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("request rate (requests/s)");
        plot.YLabel(unit);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(axis.Ticks, axis.Labels);
        return plot;
    }

    /// <summary>Maps request rates to x positions: finite rates as they are, infinity one tick step past the largest.</summary>
    private sealed record RateAxis(double InfinityPosition, double[] Ticks, string[] Labels)
    {
        public double Position(double rate) => double.IsPositiveInfinity(rate) ? InfinityPosition : rate;

        public static RateAxis For(IEnumerable<double> rates)
        {
            var distinct = rates.Distinct().Order().ToArray();
            var finite = distinct.Where(double.IsFinite).ToArray();
            double step = finite.Length >= 2 ? (finite[^1] - finite[0]) / (finite.Length - 1) : Math.Max(1, finite.FirstOrDefault());
            double infinity = finite.Length == 0 ? 1 : finite[^1] + step;
            bool hasInfinity = distinct.Any(double.IsPositiveInfinity);
            var ticks = hasInfinity ? finite.Append(infinity).ToArray() : finite;
            var labels = finite.Select(r => r.ToString("0.##", CultureInfo.InvariantCulture));
            return new RateAxis(infinity, ticks, (hasInfinity ? labels.Append("inf") : labels).ToArray());
        }
    }
}
