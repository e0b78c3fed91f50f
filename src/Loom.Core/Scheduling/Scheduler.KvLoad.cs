using Loom.Core.Requests;

namespace Loom.Core.Scheduling;

/// <summary>
/// Remote prefill (vLLM's KV connector on the decode side): a waiting request with a <see cref="RemoteKvLoad"/> gets its
/// blocks before its KV exists, waits while the engine pulls it, and is then admitted with those tokens computed.
/// </summary>
public sealed partial class Scheduler
{
    private readonly List<Request> _kvLoadsStarted = [];

    /// <summary>
    /// Requests whose blocks were allocated for a remote KV load since the last call: the engine pulls their KV into
    /// <see cref="RemoteKvLoad.BlockIds"/>, then calls <see cref="CompleteKvLoad"/>.
    /// </summary>
    public Request[] TakeStartedKvLoads()
    {
        if (_kvLoadsStarted.Count == 0) return [];
        Request[] started = [.. _kvLoadsStarted];
        _kvLoadsStarted.Clear();
        return started;
    }

    /// <summary>
    /// Allocates the request's own prefix-cache hits and fresh blocks for the rest of its prompt but the last token.
    /// False, changing nothing, when the blocks are not free.
    /// </summary>
    private bool TryStartKvLoad(Request request, RemoteKvLoad load)
    {
        var computed = KvCache.GetComputedBlocks(request);
        int target = Math.Max(request.NumPromptTokens - 1, computed.NumTokens);
        int toPull = target - computed.NumTokens;
        if ((toPull > 0 || computed.NumTokens > 0) && !KvCache.TryAllocateSlots(request, toPull, computed)) return false;
        request.NumComputedTokens = computed.NumTokens;
        load.NumLocalTokens = computed.NumTokens;
        load.FirstBlockIndex = computed.NumTokens / Config.BlockSize;
        load.BlockIds = KvCache.GetBlockIds(request)[load.FirstBlockIndex..].ToArray();
        load.NumTokens = target;
        load.State = KvLoadState.InFlight;
        _kvLoadsStarted.Add(request);
        return true;
    }

    /// <summary>
    /// The remote KV of a waiting request landed in its blocks (<paramref name="landed"/>): its tokens count as computed
    /// and its full blocks enter the prefix cache. Otherwise its blocks are freed and it computes its prompt itself
    /// (vLLM's <c>kv_load_failure_policy=recompute</c>; to fail the request instead, finish it).
    /// </summary>
    public void CompleteKvLoad(string requestId, bool landed)
    {
        if (!_requests.TryGetValue(requestId, out var request) || request.KvLoad is not { State: KvLoadState.InFlight } load)
            throw new ArgumentException($"Request '{requestId}' has no KV load in flight.", nameof(requestId));
        load.State = KvLoadState.Done;
        if (landed)
        {
            request.NumComputedTokens = load.NumTokens;
            request.NumCachedTokens = load.NumLocalTokens;
            KvCache.CacheComputedBlocks(request);
            return;
        }
        KvCache.Free(request);
        request.NumComputedTokens = 0;
    }
}
