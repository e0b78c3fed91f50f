using Loom.Bench.Metrics;

namespace Loom.Bench.Tests.Bench;

public class StatisticsTests
{
    // Expected values are numpy 1.26's np.percentile / np.std / np.median on the same lists.
    [Theory]
    [InlineData(new double[] { 1, 2, 3, 4 }, 50, 2.5)]
    [InlineData(new double[] { 1, 2, 3, 4 }, 90, 3.7)]
    [InlineData(new double[] { 1, 2, 3, 4 }, 99, 3.97)]
    [InlineData(new double[] { 4, 1, 3, 2 }, 0, 1)]
    [InlineData(new double[] { 4, 1, 3, 2 }, 100, 4)]
    [InlineData(new double[] { 15, 20, 35, 40, 50 }, 40, 29)]
    [InlineData(new double[] { 7 }, 99, 7)]
    public void Percentile_interpolates_linearly_between_ranks_like_numpy(double[] values, double p, double expected) =>
        Assert.Equal(expected, Statistics.Percentile(values, p), 12);

    [Fact]
    public void Std_is_the_population_deviation_and_median_the_50th_percentile()
    {
        double[] values = [1, 2, 3, 4];
        Assert.Equal(1.118033988749895, Statistics.Std(values), 12);
        Assert.Equal(2.5, Statistics.Median(values), 12);
        Assert.Equal(2.5, Statistics.Mean(values), 12);
    }

    [Fact]
    public void Empty_lists_read_as_zero_as_vllm_passes_values_or_0()
    {
        Assert.Equal(0, Statistics.Mean([]));
        Assert.Equal(0, Statistics.Std([]));
        Assert.Equal(0, Statistics.Percentile([], 99));
    }

    [Fact]
    public void Percentile_outside_0_100_is_rejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.Percentile([1.0], 101));
}
