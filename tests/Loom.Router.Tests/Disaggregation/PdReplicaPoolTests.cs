using Loom.Router.Disaggregation;
using Loom.Router.Routing;
using Loom.Router.Signals;
using Microsoft.Extensions.Logging.Abstractions;

namespace Loom.Router.Tests.Disaggregation;

/// <summary>
/// One side of the P/D router, without servers: the replicas are never scraped, so their polled queue and KV usage
/// read equal and the router's own load and each replica's prefix index decide.
/// </summary>
public sealed class PdReplicaPoolTests : IAsyncDisposable
{
    private static readonly string[] Replicas = ["http://127.0.0.1:1", "http://127.0.0.1:2"];
    private static readonly PromptBlocks Prompt = PromptBlocks.Of([.. Enumerable.Range(1, 64)], blockSize: 16); // 4 blocks, 3 matchable
    private static readonly PromptBlocks Other = PromptBlocks.Of([.. Enumerable.Range(100, 64)], blockSize: 16);

    private readonly ReplicaSignalPoller _signals = Poller();

    private static ReplicaSignalPoller Poller()
    {
        var poller = new ReplicaSignalPoller(TimeSpan.FromSeconds(1), NullLogger.Instance);
        foreach (var address in Replicas) poller.Add(address);
        return poller;
    }

    private PdReplicaPool Pool(PdRole role, RoutingPolicyOptions? policy) => new(role, Replicas, _signals, policy, indexCapacityBlocks: 1024);

    [Fact]
    public void A_prompt_whose_prefix_a_prefill_replica_holds_goes_to_that_replica()
    {
        var pool = Pool(PdRole.Prefill, new RoutingPolicyOptions());
        pool.IndexOf(1).Add(Prompt.Hashes);
        using var pick = pool.Assign(Prompt);
        Assert.Equal((1, "prefix_affinity", 3), (pick.Replica, pick.Reason, pick.MatchedBlocks));
        Assert.Equal("http://127.0.0.1:2", pick.Address);
    }

    [Fact]
    public void The_imbalance_guard_overrides_prefix_affinity()
    {
        var pool = Pool(PdRole.Prefill, new RoutingPolicyOptions { BalanceAbsThreshold = 2 });
        pool.IndexOf(1).Add(Prompt.Hashes);
        var held = Enumerable.Range(0, 3).Select(_ => pool.Assign(Prompt)).ToList(); // 0, 1, 2 in flight apart: affinity
        Assert.All(held, a => Assert.Equal((1, "prefix_affinity"), (a.Replica, a.Reason)));
        using (var guarded = pool.Assign(Prompt)) // 3 apart > 2: the least loaded wins
            Assert.Equal((0, "imbalance"), (guarded.Replica, guarded.Reason));
        held[0].Dispose(); // 2 apart: balanced again
        // Replica 0 has now computed the prompt too (its index learned it): of two holders the less loaded wins.
        using var after = pool.Assign(Prompt);
        Assert.Equal((0, "prefix_affinity", 3), (after.Replica, after.Reason, after.MatchedBlocks));
        foreach (var a in held) a.Dispose();
    }

    [Fact]
    public void Decode_picks_the_less_loaded_replica_and_counts_a_request_until_its_leg_ends()
    {
        var pool = Pool(PdRole.Decode, new RoutingPolicyOptions());
        var first = pool.Assign(PromptBlocks.None);
        Assert.Equal((0, "load_only"), (first.Replica, first.Reason));
        using (var second = pool.Assign(PromptBlocks.None))
            Assert.Equal(1, second.Replica);
        Assert.Equal((1, 0), (pool.LoadOf(0), pool.LoadOf(1)));
        using (var third = pool.Assign(Other)) // a new prompt: replica 0 carries one request, replica 1 none
            Assert.Equal((1, "score"), (third.Replica, third.Reason));
        first.Dispose();
        first.Dispose(); // once only
        Assert.Equal((0, 0), (pool.LoadOf(0), pool.LoadOf(1)));
    }

    [Fact]
    public void Decode_prefers_the_replica_whose_own_cache_shrinks_the_pull()
    {
        var pool = Pool(PdRole.Decode, new RoutingPolicyOptions());
        using (var first = pool.Assign(Prompt)) // both empty: replica 0, whose index then learns the prompt
            Assert.Equal(0, first.Replica);
        using var again = pool.Assign(Prompt);
        Assert.Equal((0, "prefix_affinity", 3), (again.Replica, again.Reason, again.MatchedBlocks));
        using var other = pool.Assign(Other); // a prompt neither holds: the replica not busy with the first
        Assert.Equal(1, other.Replica);
    }

    [Fact]
    public void Without_a_policy_replicas_are_taken_in_turn()
    {
        var pool = Pool(PdRole.Prefill, policy: null);
        pool.IndexOf(1).Add(Prompt.Hashes);
        int[] picks = [.. Enumerable.Range(0, 4).Select(_ => { using var a = pool.Assign(Prompt); return a.Replica; })];
        Assert.Equal([0, 1, 0, 1], picks);
        using var last = pool.Assign(Prompt);
        Assert.Equal("round_robin", last.Reason);
    }

    public ValueTask DisposeAsync() => _signals.DisposeAsync();
}
