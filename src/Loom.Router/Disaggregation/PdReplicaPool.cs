using Loom.Router.Hosting;
using Loom.Router.Routing;
using Loom.Router.Signals;

namespace Loom.Router.Disaggregation;

/// <summary>Which leg of a disaggregated request a replica serves: the metrics' role label.</summary>
public enum PdRole
{
    Prefill,
    Decode,
}

/// <summary>
/// One side of the P/D router (its prefill or its decode replicas), picked per request by the same inference-aware
/// <see cref="ReplicaPicker"/> the normal router uses: the router's own count of requests in flight there (the imbalance
/// guard's load), the polled waiting queue and KV usage, and the replica's <see cref="PrefixIndex"/> match. On the
/// prefill side a match is prompt compute saved; on the decode side it is KV the decoder need not pull. The picked
/// replica's index learns the prompt unless its KV events keep the index exact. Round-robin when no policy is given.
/// </summary>
public sealed class PdReplicaPool
{
    private readonly string[] _addresses;
    private readonly PrefixIndex[] _indexes;
    private readonly int[] _loads; // requests this router has in flight on each replica, Interlocked
    private readonly ReplicaSignalPoller _signals;
    private readonly RoutingPolicyOptions? _policy;
    private int _nextRoundRobin = -1;

    /// <param name="policy">The cache-aware policy's weights and thresholds; null = take replicas in turn.</param>
    public PdReplicaPool(PdRole role, IReadOnlyList<string> addresses, ReplicaSignalPoller signals, RoutingPolicyOptions? policy, int indexCapacityBlocks)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Count == 0) throw new ArgumentException($"The {role} side needs at least one replica.", nameof(addresses));
        Role = role;
        _addresses = [.. addresses.Select(a => a.TrimEnd('/'))];
        _indexes = [.. addresses.Select(_ => new PrefixIndex(indexCapacityBlocks))];
        _loads = new int[addresses.Count];
        _signals = signals;
        _policy = policy;
    }

    public PdRole Role { get; }

    public IReadOnlyList<string> Addresses => _addresses;

    public PrefixIndex IndexOf(int replica) => _indexes[replica];

    /// <summary>Requests in flight on <paramref name="replica"/> through this router now.</summary>
    public int LoadOf(int replica) => Volatile.Read(ref _loads[replica]);

    /// <summary>Picks a replica for a prompt and counts the request on it until the assignment is disposed.</summary>
    public PdAssignment Assign(PromptBlocks blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var (index, reason, matched) = _policy is null ? RoundRobin(blocks) : Pick(blocks, _policy);
        _indexes[index].AddRouted(blocks.Hashes);
        Interlocked.Increment(ref _loads[index]);
        return new PdAssignment(this, index, reason, matched);
    }

    internal void Release(int replica) => Interlocked.Decrement(ref _loads[replica]);

    private (int Index, string Reason, int MatchedBlocks) Pick(PromptBlocks blocks, RoutingPolicyOptions policy)
    {
        Span<ReplicaCandidate> candidates = _addresses.Length <= 64 ? stackalloc ReplicaCandidate[_addresses.Length] : new ReplicaCandidate[_addresses.Length];
        for (int i = 0; i < candidates.Length; i++)
        {
            var reading = _signals.Get(_addresses[i]);
            int matched = Math.Min(_indexes[i].LongestMatch(blocks.Hashes), blocks.MatchableBlocks);
            candidates[i] = new ReplicaCandidate(LoadOf(i), reading.Waiting, reading.KvCacheUsage, matched, _indexes[i].Count);
        }
        var decision = ReplicaPicker.Pick(candidates, blocks.MatchableBlocks, policy);
        return (decision.Index, RouterMetrics.ReasonLabel(decision.Reason), decision.MatchedBlocks);
    }

    private (int Index, string Reason, int MatchedBlocks) RoundRobin(PromptBlocks blocks)
    {
        int index = (int)((uint)Interlocked.Increment(ref _nextRoundRobin) % (uint)_addresses.Length);
        return (index, "round_robin", Math.Min(_indexes[index].LongestMatch(blocks.Hashes), blocks.MatchableBlocks));
    }
}

/// <summary>A request's replica on one side, counted in that replica's load until disposed (when its leg ends).</summary>
public sealed class PdAssignment(PdReplicaPool pool, int replica, string reason, int matchedBlocks) : IDisposable
{
    private int _disposed;

    public int Replica { get; } = replica;

    public string Address => pool.Addresses[Replica];

    /// <summary>The routing_decisions reason label: single, imbalance, prefix_affinity, score, load_only or round_robin.</summary>
    public string Reason { get; } = reason;

    /// <summary>Leading prompt blocks the replica's index says it holds.</summary>
    public int MatchedBlocks { get; } = matchedBlocks;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) pool.Release(Replica);
    }
}
