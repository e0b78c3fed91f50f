using Loom.Engine.KvEvents;
using Loom.Router.Routing;
using Loom.Router.Tests.Proxy;

namespace Loom.Router.Tests.KvEvents;

/// <summary>
/// 1 router + 2 real Loom replicas streaming KV cache events over gRPC on their KV ports, each with a 16-block cache so
/// a few system prompts evict one another: the router's index of each replica equals the replica's cached blocks.
/// </summary>
public sealed class KvEventsProofTests
{
    private const int CacheBlocks = 16;

    [Fact]
    public async Task The_routers_index_equals_each_replicas_cache_after_a_random_workload_and_after_a_forced_gap()
    {
        await using var rig = await RouterRig.StartAsync(kvEvents: true, kvCacheBlocks: CacheBlocks);
        for (int i = 0; i < 2; i++) await WaitAsync(() => rig.Router.KvEventsOf(i)!.LastSequence is not null, "the router subscribed to replica " + i);

        // Random tenants over shared system prompts (about 3 to 8 blocks each): more blocks than both caches hold.
        var random = new Random(20261201);
        string[] systems = [.. Enumerable.Range(0, 4).Select(t => string.Join(' ', Enumerable.Repeat($"You are assistant {t} of tenant {t * 7}.", 4 + 2 * t)))];
        for (int n = 0; n < 12; n++)
            await rig.ChatAsync(systems[random.Next(systems.Length)], $"user {random.Next(1000)} asks question {n}");
        for (int i = 0; i < 2; i++) await AssertIndexMatchesAsync(rig, i);
        long removed = rig.Router.KvEventsOf(0)!.Replay.NumBlocksRemoved + rig.Router.KvEventsOf(1)!.Replay.NumBlocksRemoved;
        Assert.True(removed > 0, "the workload should have evicted blocks");

        // Drop batches on the way in, then cache new prefixes on each replica directly (around the router): the next
        // batch after the lost ones is a gap, and the snapshot it triggers restores equality.
        for (int i = 0; i < 2; i++)
        {
            var follower = rig.Router.KvEventsOf(i)!;
            long snapshots = follower.NumSnapshots;
            follower.DropNextBatches(1);
            using var direct = new HttpClient { BaseAddress = new Uri(rig.Urls[i]), Timeout = TimeSpan.FromSeconds(60) };
            await rig.ChatAsync(systems[3] + " Direct.", $"around the router {i}", direct);
            await rig.ChatAsync(systems[2] + " Direct.", $"around the router again {i}", direct);
            await AssertIndexMatchesAsync(rig, i);
            Assert.True(follower.NumSnapshots > snapshots, "the gap was not noticed");
            Assert.True(follower.NumGaps >= 1);
        }
        // The router's /metrics counts both per replica: a snapshot per connection and per gap, and the gaps.
        var metrics = await rig.Client.GetStringAsync("/metrics");
        for (int i = 0; i < 2; i++)
        {
            var follower = rig.Router.KvEventsOf(i)!;
            Assert.Equal(follower.NumSnapshots, RouterRig.MetricValue(metrics, $"loom_router_kv_event_snapshots_total{{replica=\"{rig.Urls[i]}\"}}"));
            Assert.Equal(follower.NumGaps, RouterRig.MetricValue(metrics, $"loom_router_kv_event_gaps_total{{replica=\"{rig.Urls[i]}\"}}"));
        }
        Assert.Equal(2, RouterRig.MetricValue(metrics, "loom_router_replicas"));
    }

    /// <summary>Waits until the router has applied every batch the (idle) replica published, then compares the sets.</summary>
    private static async Task AssertIndexMatchesAsync(RouterRig rig, int i)
    {
        var source = (IKvEventSource)rig.Replica(i).Model!.Engine;
        var snapshot = await source.KvSnapshotAsync();
        Assert.True(snapshot.Blocks.Length <= CacheBlocks);
        var follower = rig.Router.KvEventsOf(i)!;
        await WaitAsync(() => follower.LastSequence >= snapshot.Sequence, $"the router to reach batch {snapshot.Sequence} of replica {i}");
        var expected = snapshot.Blocks.Select(b => b.BlockHash).OrderBy(h => h.Value);
        var index = rig.Router.Replicas.IndexOf(ReplicaDirectory.DestinationId(i))!;
        Assert.True(index.FollowsEvents);
        Assert.Equal(expected, index.ToHashSet().OrderBy(h => h.Value));
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}
