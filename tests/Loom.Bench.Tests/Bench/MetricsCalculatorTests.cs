using Loom.Bench.Metrics;

namespace Loom.Bench.Tests.Bench;

/// <summary>vLLM's calculate_metrics on hand-made timelines whose results are worked out by hand in the comments.</summary>
public class MetricsCalculatorTests
{
    // A: 5 tokens, first after 100 ms, then 20/30/20/30 ms: latency 200 ms, TPOT (200-100)/4 = 25 ms.
    private static readonly RequestOutcome A = new()
    {
        Success = true, PromptLen = 10, OutputTokens = 5, Ttft = 0.1, Itl = [0.02, 0.03, 0.02, 0.03], Latency = 0.2, StartTime = 0,
    };
    // B: 3 tokens, first after 300 ms, then 50/50 ms: latency 400 ms, TPOT (400-300)/2 = 50 ms; started at 0.5 s.
    private static readonly RequestOutcome B = new()
    {
        Success = true, PromptLen = 20, OutputTokens = 3, Ttft = 0.3, Itl = [0.05, 0.05], Latency = 0.4, StartTime = 0.5,
    };
    private static readonly RequestOutcome Failed = RequestOutcome.Failed(99, 0.1, "HTTP 500");
    // D: a single token after 50 ms: no TPOT (counted as 0 for goodput), latency 50 ms.
    private static readonly RequestOutcome D = new()
    {
        Success = true, PromptLen = 7, OutputTokens = 1, Ttft = 0.05, Itl = [], Latency = 0.05, StartTime = 1.2,
    };
    private static readonly RequestOutcome[] Timeline = [A, B, Failed, D];

    [Fact]
    public void Counts_and_throughputs_follow_vllm()
    {
        var m = MetricsCalculator.Calculate(Timeline, durationS: 2.0, [50, 99], GoodputSlo.None);
        Assert.Equal(3, m.Completed);
        Assert.Equal(1, m.Failed);
        Assert.Equal(37, m.TotalInput); // the failed request's prompt is not counted
        Assert.Equal(9, m.TotalOutput);
        Assert.Equal([5, 3, 0, 1], m.ActualOutputLens);
        Assert.Equal(1.5, m.RequestThroughput, 12);
        Assert.Equal(4.5, m.OutputThroughput, 12);
        Assert.Equal(23.0, m.TotalTokenThroughput, 12);
        Assert.Null(m.RequestGoodput);
    }

    [Fact]
    public void Ttft_and_e2el_are_taken_per_successful_request()
    {
        var m = MetricsCalculator.Calculate(Timeline, 2.0, [50, 99], GoodputSlo.None);
        Assert.Equal(150, m.Ttft.MeanMs, 9);          // (100 + 300 + 50) / 3
        Assert.Equal(100, m.Ttft.MedianMs, 9);
        Assert.Equal(296, m.Ttft.At(99), 9);          // 100 + 0.98 * (300 - 100)
        Assert.Equal(650.0 / 3, m.E2el.MeanMs, 9);    // (200 + 400 + 50) / 3
        Assert.Equal(200, m.E2el.MedianMs, 9);
    }

    [Fact]
    public void Tpot_is_latency_minus_ttft_over_output_len_minus_one_and_skips_single_token_outputs()
    {
        var m = MetricsCalculator.Calculate(Timeline, 2.0, [50, 99], GoodputSlo.None);
        Assert.Equal(37.5, m.Tpot.MeanMs, 9);         // mean of 25 and 50; D has no TPOT
        Assert.Equal(37.5, m.Tpot.MedianMs, 9);
        Assert.Equal(49.75, m.Tpot.At(99), 9);        // 25 + 0.99 * 25
        Assert.Equal(12.5, m.Tpot.StdMs, 9);
    }

    [Fact]
    public void Itl_pools_every_chunk_gap_of_every_request()
    {
        var m = MetricsCalculator.Calculate(Timeline, 2.0, [50, 99], GoodputSlo.None);
        Assert.Equal(200.0 / 6, m.Itl.MeanMs, 9);     // 20+30+20+30+50+50 over 6 gaps
        Assert.Equal(30, m.Itl.MedianMs, 9);          // sorted 20,20,30,30,50,50
        Assert.Equal(50, m.Itl.At(99), 9);
    }

    [Theory]
    [InlineData("ttft:200 tpot:30", 1.0)]  // A (100 ms, 25 ms) and D (50 ms, tpot 0) are good; B's TTFT is 300 ms
    [InlineData("ttft:300", 1.5)]          // a limit is inclusive: B's 300 ms meets it
    [InlineData("tpot:25", 1.0)]           // A at exactly 25 ms and D
    [InlineData("e2el=100", 0.5)]          // the KEY=VALUE form: only D ends within 100 ms
    [InlineData("ttft_ms=500 tpot_ms=60 e2el_ms=1000", 1.5)]
    public void Goodput_counts_requests_meeting_every_slo_per_second(string slo, double expected)
    {
        var m = MetricsCalculator.Calculate(Timeline, 2.0, [99], GoodputSlo.Parse([slo]));
        Assert.Equal(expected, m.RequestGoodput!.Value, 12);
    }

    [Fact]
    public void Without_usage_the_output_length_comes_from_the_tokenizer_or_else_the_chunk_count()
    {
        var noUsage = A with { OutputTokens = 0, GeneratedText = "a b c d e f" };
        Assert.Equal([5], MetricsCalculator.Calculate([noUsage], 1, [99], GoodputSlo.None).ActualOutputLens);
        Assert.Equal([6], MetricsCalculator.Calculate([noUsage], 1, [99], GoodputSlo.None, t => t.Split(' ').Length).ActualOutputLens);
    }

    [Fact]
    public void Peak_output_tokens_and_concurrency_use_one_second_buckets_from_the_first_start()
    {
        // Token times: A 0.1, .12, .15, .17, .20; B 0.8, .85, .9; D 1.25 → bucket 0 holds 8, bucket 1 holds 1.
        var m = MetricsCalculator.Calculate(Timeline, 2.0, [99], GoodputSlo.None);
        Assert.Equal(8, m.MaxOutputTokensPerS);
        Assert.Equal(2, m.MaxConcurrentRequests); // A and B both live in second 0
    }

    [Fact]
    public void Peak_concurrent_requests_counts_requests_in_flight_at_one_instant()
    {
        // P [0, 1), Q [0.5, 1.5), R [1.0, 2.0), S [1.2, 1.3), plus a failed request that never counts. At 1.0 P ends
        // as R starts (no overlap); at 1.2 Q, R and S are in flight: the peak is 3. Every one of them touches second 1.
        RequestOutcome Span(double start, double latency) => new() { Success = true, OutputTokens = 1, Ttft = latency, Latency = latency, StartTime = start };
        var outcomes = new[] { Span(0, 1.0), Span(0.5, 1.0), Span(1.0, 1.0), Span(1.2, 0.1), RequestOutcome.Failed(1, 1.2, "x") };
        var m = MetricsCalculator.Calculate(outcomes, 2.0, [99], GoodputSlo.None);
        Assert.Equal(3, m.PeakConcurrentRequests);
        Assert.Equal(4, m.MaxConcurrentRequests); // vLLM's bucket figure
    }

    [Fact]
    public void Under_a_concurrency_cap_of_16_two_back_to_back_waves_peak_at_16_while_vllms_buckets_count_32()
    {
        // A closed loop with 16 slots and 32 requests of 0.4 s each: the second wave starts as the first ends, all
        // within second 0 (the 20-31 "peak concurrent requests" seen against llama-server with --max-concurrency 16).
        var outcomes = Enumerable.Range(0, 32).Select(i => new RequestOutcome
        {
            Success = true, OutputTokens = 4, Ttft = 0.1, Itl = [0.1, 0.1, 0.1], Latency = 0.4, StartTime = i < 16 ? 0.01 * i : 0.4 + 0.01 * (i - 16),
        }).ToArray();
        var m = MetricsCalculator.Calculate(outcomes, 1.0, [99], GoodputSlo.None);
        Assert.Equal(16, m.PeakConcurrentRequests);
        Assert.Equal(32, m.MaxConcurrentRequests);
    }

    [Fact]
    public void All_failed_gives_zeros_not_an_exception()
    {
        var m = MetricsCalculator.Calculate([Failed], 1.0, [99], GoodputSlo.Parse(["ttft:1"]));
        Assert.Equal(0, m.Completed);
        Assert.Equal(0, m.Ttft.MeanMs);
        Assert.Equal(0, m.RequestGoodput);
    }

    [Theory]
    [InlineData("ttft")]
    [InlineData("latency:5")]
    [InlineData("ttft:-1")]
    [InlineData("tpot:fast")]
    public void Bad_goodput_specs_are_rejected_naming_the_option(string spec)
    {
        var e = Assert.Throws<FormatException>(() => GoodputSlo.Parse([spec]));
        Assert.Contains("--goodput", e.Message);
    }
}
