using Loom.Bench.Arrivals;

namespace Loom.Bench.Tests.Bench;

public class ArrivalScheduleTests
{
    [Fact]
    public void Infinite_rate_sends_everything_at_time_zero() =>
        Assert.All(ArrivalSchedule.Create(50, double.PositiveInfinity, 1.0, new Random(0)), t => Assert.Equal(0, t));

    [Theory]
    [InlineData(4.0, 1.0)]
    [InlineData(0.5, 0.3)]
    [InlineData(10.0, 5.0)]
    public void Offsets_ascend_and_the_last_request_goes_out_at_n_over_rate(double rate, double burstiness)
    {
        var offsets = ArrivalSchedule.Create(200, rate, burstiness, new Random(7));
        Assert.Equal(200, offsets.Length);
        for (int i = 1; i < offsets.Length; i++) Assert.True(offsets[i] >= offsets[i - 1]);
        Assert.Equal(200 / rate, offsets[^1], 9);
    }

    [Fact]
    public void The_same_seed_gives_the_same_schedule() =>
        Assert.Equal(ArrivalSchedule.Create(100, 3, 0.5, new Random(42)), ArrivalSchedule.Create(100, 3, 0.5, new Random(42)));

    [Theory]
    [InlineData(1.0)]   // Poisson: exponential gaps, coefficient of variation 1
    [InlineData(0.25)]  // bursty: CV 2
    [InlineData(4.0)]   // smoother: CV 0.5
    public void Raw_gaps_have_mean_one_over_rate_and_cv_one_over_sqrt_burstiness(double burstiness)
    {
        const double rate = 8;
        var gaps = ArrivalSchedule.Gaps(40_000, rate, burstiness, new Random(123));
        double mean = gaps.Average();
        double sd = Math.Sqrt(gaps.Select(g => (g - mean) * (g - mean)).Average());
        Assert.InRange(mean, 0.97 / rate, 1.03 / rate);
        double expectedCv = 1 / Math.Sqrt(burstiness);
        Assert.InRange(sd / mean, expectedCv * 0.95, expectedCv * 1.05);
    }

    [Fact]
    public void Poisson_arrivals_at_rate_r_put_about_r_requests_in_each_second()
    {
        // Counts per one-second window of a Poisson process have mean and variance both equal to the rate.
        var offsets = ArrivalSchedule.Create(20_000, 5, 1.0, new Random(9));
        var counts = offsets.GroupBy(t => (int)t).Select(g => (double)g.Count()).ToArray();
        double mean = counts.Average(), variance = counts.Select(c => (c - mean) * (c - mean)).Average();
        Assert.InRange(mean, 4.85, 5.15);
        Assert.InRange(variance, 4.5, 5.5);
    }

    [Fact]
    public void Infinite_burstiness_spaces_requests_evenly() =>
        Assert.Equal([0.5, 1.0, 1.5, 2.0], ArrivalSchedule.Create(4, 2, double.PositiveInfinity, new Random(0)));

    [Fact]
    public void Trace_replay_shifts_to_zero_and_scales_time()
    {
        Assert.Equal([0, 5, 5, 20], ArrivalSchedule.FromTimestamps([100, 110, 110, 140], timeScale: 2));
        Assert.Throws<ArgumentException>(() => ArrivalSchedule.FromTimestamps([3, 1]));
    }

    [Fact]
    public void Non_positive_rate_or_burstiness_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ArrivalSchedule.Create(3, 0, 1, new Random(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ArrivalSchedule.Create(3, 1, -1, new Random(0)));
    }
}
