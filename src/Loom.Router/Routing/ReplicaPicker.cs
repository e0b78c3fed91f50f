namespace Loom.Router.Routing;

/// <summary>
/// The inference-aware pick, pure so it can be tested alone. First SGLang's imbalance guard: when the most loaded
/// replica carries more than balance_abs_threshold requests beyond the least loaded and more than balance_rel_threshold
/// times it, the least loaded wins. Otherwise SGLang's cache rule: a prompt whose best match covers cache_threshold of
/// its blocks goes to that replica. Otherwise the Gateway API Inference Extension's scorers, each in [0, 1], weighted
/// and summed: queue (the shortest waiting queue scores 1, the longest 0), KV cache (1 - usage) and prefix (matched
/// blocks / prompt blocks). Ties go to the lower router load, then the smaller prefix index, then the earlier candidate, so a pick is deterministic.
/// </summary>
public static class ReplicaPicker
{
    /// <param name="promptBlocks">Full blocks in the request's prompt; 0 when the router could not hash it.</param>
    public static RoutingDecision Pick(ReadOnlySpan<ReplicaCandidate> candidates, int promptBlocks, RoutingPolicyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (candidates.IsEmpty) throw new ArgumentException("There must be at least one candidate replica.", nameof(candidates));
        if (candidates.Length == 1) return new RoutingDecision(0, RoutingReason.Single, candidates[0].MatchedBlocks);
        if (IsImbalanced(candidates, options)) return Decide(candidates, LeastLoaded(candidates), RoutingReason.Imbalance);
        if (promptBlocks > 0)
        {
            int best = BestMatch(candidates);
            if (candidates[best].MatchedBlocks > 0 && candidates[best].MatchedBlocks >= options.CacheThreshold * promptBlocks)
                return Decide(candidates, best, RoutingReason.PrefixAffinity);
        }
        return Decide(candidates, BestScore(candidates, promptBlocks, options), promptBlocks > 0 ? RoutingReason.Score : RoutingReason.LoadOnly);
    }

    /// <summary>SGLang's test: both the absolute and the relative gap between the most and least loaded replica are exceeded.</summary>
    public static bool IsImbalanced(ReadOnlySpan<ReplicaCandidate> candidates, RoutingPolicyOptions options)
    {
        int max = int.MinValue, min = int.MaxValue;
        foreach (var c in candidates)
        {
            max = Math.Max(max, c.Load);
            min = Math.Min(min, c.Load);
        }
        return max - min > options.BalanceAbsThreshold && max > options.BalanceRelThreshold * min;
    }

    /// <summary>The weighted scorer sum for candidate <paramref name="index"/> (higher is better).</summary>
    public static double Score(ReadOnlySpan<ReplicaCandidate> candidates, int index, int promptBlocks, RoutingPolicyOptions options)
    {
        double minWaiting = double.MaxValue, maxWaiting = double.MinValue;
        foreach (var c in candidates)
        {
            minWaiting = Math.Min(minWaiting, c.Waiting);
            maxWaiting = Math.Max(maxWaiting, c.Waiting);
        }
        var candidate = candidates[index];
        // The inference extension's queue scorer: min-max normalized, and all equal scores 1.
        double queue = maxWaiting > minWaiting ? (maxWaiting - candidate.Waiting) / (maxWaiting - minWaiting) : 1;
        double kv = 1 - Math.Clamp(candidate.KvCacheUsage, 0, 1);
        double prefix = promptBlocks > 0 ? Math.Min(1, (double)candidate.MatchedBlocks / promptBlocks) : 0;
        return options.QueueWeight * queue + options.KvCacheWeight * kv + options.PrefixWeight * prefix;
    }

    private static int BestScore(ReadOnlySpan<ReplicaCandidate> candidates, int promptBlocks, RoutingPolicyOptions options)
    {
        int best = 0;
        double bestScore = Score(candidates, 0, promptBlocks, options);
        for (int i = 1; i < candidates.Length; i++)
        {
            double score = Score(candidates, i, promptBlocks, options);
            if (score > bestScore || (score == bestScore && candidates[i].WinsTieAgainst(candidates[best])))
                (best, bestScore) = (i, score);
        }
        return best;
    }

    private static int BestMatch(ReadOnlySpan<ReplicaCandidate> candidates)
    {
        int best = 0;
        for (int i = 1; i < candidates.Length; i++)
        {
            var (c, b) = (candidates[i], candidates[best]);
            if (c.MatchedBlocks > b.MatchedBlocks || (c.MatchedBlocks == b.MatchedBlocks && c.WinsTieAgainst(b))) best = i;
        }
        return best;
    }

    private static int LeastLoaded(ReadOnlySpan<ReplicaCandidate> candidates)
    {
        int best = 0;
        for (int i = 1; i < candidates.Length; i++)
            if (candidates[i].WinsTieAgainst(candidates[best])) best = i;
        return best;
    }

    private static RoutingDecision Decide(ReadOnlySpan<ReplicaCandidate> candidates, int index, RoutingReason reason) =>
        new(index, reason, candidates[index].MatchedBlocks);
}
