using Loom.Core.KvCache;
using Loom.Router.KvEvents;
using Loom.Router.Routing;

namespace Loom.Router.Tests.KvEvents;

/// <summary>The router's replay of one replica's events: in sequence they edit the index, a jump asks for a snapshot.</summary>
public sealed class KvEventReplayTests
{
    private static BlockHash H(int i) => new((UInt128)i + 1);

    private static BlockStored Stored(params int[] ids) => new([.. ids.Select(H)], null, new int[ids.Length], 1);

    [Fact]
    public void Nothing_applies_before_a_snapshot()
    {
        var replay = new KvEventReplay(new PrefixIndex(100));
        Assert.Equal(ReplayOutcome.Gap, replay.Apply(1, [Stored(1)]));
        Assert.Equal(0, replay.Index.Count);
    }

    [Fact]
    public void Batches_in_sequence_store_remove_and_clear()
    {
        var replay = new KvEventReplay(new PrefixIndex(100));
        replay.ApplySnapshot(5, [H(0)]);
        Assert.Equal(ReplayOutcome.Stale, replay.Apply(5, [Stored(9)]));
        Assert.Equal(ReplayOutcome.Applied, replay.Apply(6, [Stored(1, 2, 3), new BlockRemoved([H(0), H(2)])]));
        Assert.Equal([H(1), H(3)], replay.Index.ToHashSet().OrderBy(h => h.Value));
        Assert.Equal(ReplayOutcome.Applied, replay.Apply(7, [AllBlocksCleared.Instance, Stored(4)]));
        Assert.Equal([H(4)], replay.Index.ToHashSet());
        Assert.Equal(7, replay.LastSequence);
    }

    [Fact]
    public void A_jump_in_sequence_is_a_gap_that_changes_nothing_until_a_snapshot()
    {
        var replay = new KvEventReplay(new PrefixIndex(100));
        replay.ApplySnapshot(0, []);
        Assert.Equal(ReplayOutcome.Applied, replay.Apply(1, [Stored(1)]));
        Assert.Equal(ReplayOutcome.Gap, replay.Apply(3, [Stored(3)]));
        Assert.Equal([H(1)], replay.Index.ToHashSet());
        replay.ApplySnapshot(3, [H(1), H(2), H(3)]);
        Assert.Equal(ReplayOutcome.Applied, replay.Apply(4, [new BlockRemoved([H(1)])]));
        Assert.Equal([H(2), H(3)], replay.Index.ToHashSet().OrderBy(h => h.Value));
    }

    [Fact]
    public void An_index_that_follows_events_learns_nothing_from_routing_and_survives_a_failed_scrape()
    {
        var index = new PrefixIndex(100) { FollowsEvents = true };
        index.ReplaceWith([H(1)]);
        index.AddRouted([H(2)]);
        index.ForgetRouted();
        Assert.Equal([H(1)], index.ToHashSet());
        index.FollowsEvents = false;
        index.AddRouted([H(2)]);
        Assert.Equal(2, index.Count);
        index.ForgetRouted();
        Assert.Equal(0, index.Count);
    }
}
