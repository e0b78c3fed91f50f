using System.Globalization;
using Loom.Bench.Metrics;
using Loom.Bench.Serving;
using Spectre.Console;

namespace Loom.Bench.Reporting;

/// <summary>Terminal output of `loom bench serve`: vLLM's result block per run and a summary table of a sweep.</summary>
public static class ConsoleReport
{
    public static void WriteRun(IAnsiConsole console, string label, ServeRunResult run)
    {
        var m = run.Metrics;
        var o = run.Options;
        var table = new Table().Border(TableBorder.Simple).Title($"[bold]Serving Benchmark Result[/] ({Markup.Escape(label)})");
        table.AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        void Row(string name, string value) => table.AddRow(Markup.Escape(name), Markup.Escape(value));
        Row("Successful requests", m.Completed.ToString(CultureInfo.InvariantCulture));
        Row("Failed requests", m.Failed.ToString(CultureInfo.InvariantCulture));
        if (m.ResentRequests > 0) Row("Resent requests (connection lost before a response)", m.ResentRequests.ToString(CultureInfo.InvariantCulture));
        if (o.MaxConcurrency is { } c) Row("Maximum request concurrency", c.ToString(CultureInfo.InvariantCulture));
        Row("Request rate configured (RPS)", RateText(o.RequestRate));
        Row("Burstiness factor", double.IsPositiveInfinity(o.Burstiness) ? "inf" : F(o.Burstiness) + (o.Burstiness == 1 ? " (Poisson)" : " (gamma)"));
        Row("Benchmark duration (s)", F(run.DurationS));
        Row("Total input tokens", m.TotalInput.ToString(CultureInfo.InvariantCulture));
        Row("Total generated tokens", m.TotalOutput.ToString(CultureInfo.InvariantCulture));
        Row("Request throughput (req/s)", F(m.RequestThroughput));
        if (m.RequestGoodput is { } g) Row($"Request goodput (req/s) [{o.Goodput}]", F(g));
        Row("Output token throughput (tok/s)", F(m.OutputThroughput));
        Row("Peak output token throughput (tok/s)", F(m.MaxOutputTokensPerS));
        Row("Peak concurrent requests", m.PeakConcurrentRequests.ToString(CultureInfo.InvariantCulture));
        Row("Total token throughput (tok/s)", F(m.TotalTokenThroughput));
        foreach (var (name, summary) in Summaries(m))
        {
            Row($"Mean {name} (ms)", F(summary.MeanMs));
            Row($"Median {name} (ms)", F(summary.MedianMs));
            foreach (var p in summary.Percentiles) Row($"P{p.Word} {name} (ms)", F(p.ValueMs));
        }
        console.Write(table);
        var firstError = run.Outcomes.FirstOrDefault(x => !x.Success)?.Error;
        if (firstError is not null) console.MarkupLine($"[red]first error:[/] {Markup.Escape(firstError)}");
    }

    /// <summary>One row per run of a sweep: the figures the plots show, side by side.</summary>
    public static void WriteSweep(IAnsiConsole console, IReadOnlyList<(string Label, ServeRunResult Run)> runs, double percentile)
    {
        string p = "p" + new PercentileValue(percentile, 0).Word;
        var table = new Table().Border(TableBorder.Simple).Title("[bold]Sweep summary[/] (latencies in ms)");
        foreach (var header in new[] { "config", "rate", "ok", "req/s", "tok/s", "good/s", "TTFT50", $"TTFT{p[1..]}", "TPOT50", $"TPOT{p[1..]}", "ITL50", $"E2E{p[1..]}" })
            table.AddColumn(new TableColumn(header).RightAligned());
        foreach (var (label, run) in runs)
        {
            var m = run.Metrics;
            table.AddRow(new[]
            {
                label, RateText(run.Options.RequestRate), $"{m.Completed}/{m.Completed + m.Failed}", F1(m.RequestThroughput), F1(m.OutputThroughput),
                m.RequestGoodput is { } g ? F1(g) : "-", F1(m.Ttft.MedianMs), F1(m.Ttft.At(percentile)), F1(m.Tpot.MedianMs),
                F1(m.Tpot.At(percentile)), F1(m.Itl.MedianMs), F1(m.E2el.At(percentile)),
            }.Select(Markup.Escape).ToArray());
        }
        console.Write(table);
    }

    private static IEnumerable<(string, MetricSummary)> Summaries(BenchmarkMetrics m) =>
        [("TTFT", m.Ttft), ("TPOT", m.Tpot), ("ITL", m.Itl), ("E2EL", m.E2el)];

    public static string RateText(double rate) => double.IsPositiveInfinity(rate) ? "inf" : rate.ToString("0.###", CultureInfo.InvariantCulture);

    private static string F1(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    private static string F(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);
}
