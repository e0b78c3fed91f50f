namespace Loom.Router.Routing;

/// <summary>What the router knows about one healthy replica when it picks one for a request.</summary>
/// <param name="Load">Requests the router has in flight there now (SGLang's load: exact, no polling lag).</param>
/// <param name="Waiting">The replica's waiting queue as last polled (vLLM's num_requests_waiting).</param>
/// <param name="KvCacheUsage">Fraction of its KV blocks in use as last polled, 0..1.</param>
/// <param name="MatchedBlocks">Leading blocks of the request's prompt the router's index says the replica holds.</param>
/// <param name="IndexedBlocks">Blocks the router's index holds for the replica: among equals the smaller wins, so new
/// prefixes spread over replicas (SGLang sends a prompt without a good match to the smallest tree).</param>
public readonly record struct ReplicaCandidate(int Load, double Waiting, double KvCacheUsage, int MatchedBlocks, int IndexedBlocks = 0)
{
    /// <summary>Whether this candidate beats <paramref name="other"/> when their scores tie: lower load, then a smaller index.</summary>
    public bool WinsTieAgainst(ReplicaCandidate other) =>
        Load != other.Load ? Load < other.Load : IndexedBlocks < other.IndexedBlocks;
}

/// <summary>Why a replica was picked: the label of the router's routing_decisions metric.</summary>
public enum RoutingReason
{
    /// <summary>Only one replica was healthy.</summary>
    Single,

    /// <summary>Loads diverged past the balance thresholds: shortest queue won (SGLang's imbalance guard).</summary>
    Imbalance,

    /// <summary>The best prefix match covered at least cache_threshold of the prompt's blocks.</summary>
    PrefixAffinity,

    /// <summary>The weighted sum of the queue, KV-cache and prefix scorers picked it.</summary>
    Score,

    /// <summary>No prompt blocks were known (no tokenizer, or a request the router could not read): load scorers alone.</summary>
    LoadOnly,
}

/// <summary>The picked candidate's index, why, and how many prompt blocks it is expected to hold.</summary>
public readonly record struct RoutingDecision(int Index, RoutingReason Reason, int MatchedBlocks);
