using System.Collections.Concurrent;

namespace Loom.Router.Routing;

/// <summary>One replica in the router's set: its stable YARP destination id and its base URL.</summary>
/// <param name="Id">replica-i for the i-th --replica; the pod name for a discovered pod.</param>
public sealed record Replica(string Id, string Address);

/// <summary>
/// The replicas the router routes to now, by YARP destination id, each with its prefix index. The set changes while the
/// router runs (discovered pods join and leave); a replica that left has no index, and callers holding its id from a
/// pick made just before (an in-flight request) get null rather than an error.
/// </summary>
public sealed class ReplicaDirectory(int indexCapacityBlocks)
{
    private readonly ConcurrentDictionary<string, Member> _members = new(StringComparer.Ordinal);

    private sealed record Member(Replica Replica, PrefixIndex Index);

    /// <summary>Blocks each replica's prefix index remembers (its LRU bound).</summary>
    public int IndexCapacityBlocks { get; } = indexCapacityBlocks > 0 ? indexCapacityBlocks
        : throw new ArgumentOutOfRangeException(nameof(indexCapacityBlocks), indexCapacityBlocks, "The capacity must be at least 1 block.");

    /// <summary>YARP's name for the i-th --replica.</summary>
    public static string DestinationId(int i) => $"replica-{i}";

    public int Count => _members.Count;

    /// <summary>The replicas now, ordered by id (so YARP's destination list does not reshuffle).</summary>
    public IReadOnlyList<Replica> Members => [.. _members.Values.Select(m => m.Replica).OrderBy(r => r.Id, StringComparer.Ordinal)];

    /// <summary>Adds the replica with an empty prefix index; false when its id is already present.</summary>
    public bool TryAdd(Replica replica)
    {
        ArgumentNullException.ThrowIfNull(replica);
        return _members.TryAdd(replica.Id, new Member(replica, new PrefixIndex(IndexCapacityBlocks)));
    }

    /// <summary>Removes the replica and drops its prefix index; false when it was not present.</summary>
    public bool TryRemove(string id) => _members.TryRemove(id, out _);

    public Replica? Get(string id) => _members.TryGetValue(id, out var m) ? m.Replica : null;

    /// <summary>The prefix index of the replica, or null once it left the set.</summary>
    public PrefixIndex? IndexOf(string destinationId) => _members.TryGetValue(destinationId, out var m) ? m.Index : null;

    /// <summary>
    /// Forgets what the replica at <paramref name="address"/> was thought to cache: it stopped answering, and a
    /// replica that comes back has restarted with an empty cache, so affinity to the old index would misroute.
    /// </summary>
    public void ForgetCacheOf(string address)
    {
        foreach (var m in _members.Values)
            if (m.Replica.Address == address) m.Index.ForgetRouted();
    }
}
