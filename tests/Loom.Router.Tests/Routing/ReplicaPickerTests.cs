using CsCheck;
using Loom.Router.Routing;

namespace Loom.Router.Tests.Routing;

public sealed class ReplicaPickerTests
{
    private static readonly RoutingPolicyOptions Defaults = new();

    [Fact]
    public void A_prompt_mostly_held_by_one_replica_goes_there()
    {
        ReplicaCandidate[] c = [new(Load: 0, 0, 0.1, MatchedBlocks: 0), new(Load: 3, 2, 0.6, MatchedBlocks: 6)];
        var d = ReplicaPicker.Pick(c, promptBlocks: 10, Defaults);
        Assert.Equal((1, RoutingReason.PrefixAffinity, 6), (d.Index, d.Reason, d.MatchedBlocks));
    }

    [Fact]
    public void Imbalance_overrides_affinity_once_both_thresholds_are_crossed()
    {
        ReplicaCandidate[] c = [new(Load: 2, 0, 0, MatchedBlocks: 0), new(Load: 40, 30, 0.9, MatchedBlocks: 10)];
        var d = ReplicaPicker.Pick(c, 10, Defaults);
        Assert.Equal((0, RoutingReason.Imbalance), (d.Index, d.Reason));
        // 32 apart is not more than balance_abs_threshold 32: affinity still wins.
        ReplicaCandidate[] close = [new(Load: 2, 0, 0, 0), new(Load: 34, 30, 0.9, 10)];
        Assert.Equal(RoutingReason.PrefixAffinity, ReplicaPicker.Pick(close, 10, Defaults).Reason);
    }

    [Fact]
    public void Below_the_cache_threshold_the_weighted_scorers_decide()
    {
        // 4 of 10 blocks < 0.5: replica 1's partial match (3 * 0.4) does not outweigh its longer queue and fuller cache.
        ReplicaCandidate[] c = [new(Load: 1, 0, 0.2, MatchedBlocks: 0), new(Load: 1, 8, 0.8, MatchedBlocks: 4)];
        var d = ReplicaPicker.Pick(c, 10, Defaults);
        Assert.Equal((0, RoutingReason.Score), (d.Index, d.Reason));
        Assert.Equal(2 * 1 + 2 * 0.8 + 0, ReplicaPicker.Score(c, 0, 10, Defaults), 9);
        Assert.Equal(2 * 0 + 2 * 0.2 + 3 * 0.4, ReplicaPicker.Score(c, 1, 10, Defaults), 9);
    }

    [Fact]
    public void Without_prompt_blocks_only_load_counts_and_new_prefixes_spread()
    {
        ReplicaCandidate[] c = [new(0, 0, 0, 0, IndexedBlocks: 50), new(0, 0, 0, 0, IndexedBlocks: 10)];
        var d = ReplicaPicker.Pick(c, promptBlocks: 0, Defaults);
        Assert.Equal((1, RoutingReason.LoadOnly), (d.Index, d.Reason));
        Assert.Equal(RoutingReason.Single, ReplicaPicker.Pick(c.AsSpan(0, 1), 0, Defaults).Reason);
    }

    [Fact]
    public void Bad_weights_and_thresholds_are_refused_naming_the_flag()
    {
        Assert.Equal("--cache-threshold", Assert.Throws<ArgumentException>(() => new RoutingPolicyOptions { CacheThreshold = 2 }.Validate()).ParamName);
        Assert.Equal("--queue-weight", Assert.Throws<ArgumentException>(() => new RoutingPolicyOptions { QueueWeight = double.NaN }.Validate()).ParamName);
        Assert.Equal("--balance-rel-threshold", Assert.Throws<ArgumentException>(() => new RoutingPolicyOptions { BalanceRelThreshold = 0.5 }.Validate()).ParamName);
    }

    private static readonly Gen<ReplicaCandidate> GenCandidate =
        Gen.Select(Gen.Int[0, 100], Gen.Int[0, 50], Gen.Double[0, 1], Gen.Int[0, 12], Gen.Int[0, 1000])
            .Select((load, waiting, kv, matched, indexed) => new ReplicaCandidate(load, waiting, kv, matched, indexed));

    [Fact]
    public void Properties_of_every_pick()
    {
        Gen.Select(GenCandidate.Array[1, 6], Gen.Int[0, 12]).Sample((candidates, promptBlocks) =>
        {
            var d = ReplicaPicker.Pick(candidates, promptBlocks, Defaults);
            Assert.InRange(d.Index, 0, candidates.Length - 1);
            Assert.Equal(candidates[d.Index].MatchedBlocks, d.MatchedBlocks);
            Assert.Equal(d, ReplicaPicker.Pick(candidates, promptBlocks, Defaults)); // deterministic
            int minLoad = candidates.Min(c => c.Load);
            if (d.Reason == RoutingReason.Imbalance) Assert.Equal(minLoad, candidates[d.Index].Load);
            if (d.Reason == RoutingReason.PrefixAffinity)
                Assert.Equal(candidates.Max(c => c.MatchedBlocks), d.MatchedBlocks);
            if (d.Reason is RoutingReason.Score or RoutingReason.LoadOnly)
                for (int i = 0; i < candidates.Length; i++)
                    Assert.True(ReplicaPicker.Score(candidates, d.Index, promptBlocks, Defaults) >= ReplicaPicker.Score(candidates, i, promptBlocks, Defaults));
            // Scores lie within the sum of the weights.
            for (int i = 0; i < candidates.Length; i++)
                Assert.InRange(ReplicaPicker.Score(candidates, i, promptBlocks, Defaults), 0, 7 + 1e-9);
        }, iter: 500, threads: 1);
    }

    [Fact]
    public void Imbalance_guard_agrees_with_sglangs_two_conditions()
    {
        Gen.Select(Gen.Int[0, 200], Gen.Int[0, 200]).Sample((a, b) =>
        {
            ReplicaCandidate[] c = [new(a, 0, 0, 0), new(b, 0, 0, 0)];
            int max = Math.Max(a, b), min = Math.Min(a, b);
            Assert.Equal(max - min > 32 && max > 1.0001 * min, ReplicaPicker.IsImbalanced(c, Defaults));
        }, iter: 500, threads: 1);
    }
}
