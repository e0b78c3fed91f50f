using System.Collections.Concurrent;
using Loom.Core.Requests;
using Loom.Engine.KvTransfer;
using Loom.Engine.Requests;

namespace Loom.Engine;

/// <summary>
/// Prefill/decode disaggregation, both sides. Prefill: a <c>do_remote_decode</c> request finishes holding its blocks
/// under a lease; a KV service exports them and releases them (all on the engine thread). Decode: a
/// <c>do_remote_prefill</c> request waits while <see cref="KvFetcher"/> pulls the blocks its own cache lacks; the engine
/// imports them between steps and the scheduler admits it with those tokens computed.
/// </summary>
public sealed partial class LlmEngine
{
    private readonly ConcurrentQueue<KvArrival> _kvArrivals = new(); // written by fetches, read by the engine thread
    private readonly KvLeases _leases;
    private int _numKvLoadsInFlight;
    private bool _lastStepRan;
    private KvPullTotals _kvPulled; // engine thread only: GetStats runs there too (AsyncLlm publishes its copy)

    /// <summary>This engine's <c>remote_engine_id</c>.</summary>
    public string EngineId { get; } = Guid.NewGuid().ToString("N");

    /// <summary>Pulls a prefill instance's KV for <c>do_remote_prefill</c> requests; null = such requests are refused.</summary>
    public IKvBlockFetcher? KvFetcher { get; set; }

    /// <summary>Called on the fetch's thread when remote KV arrived or failed (the engine loop wakes to land it).</summary>
    public Action? KvArrived { get; set; }

    /// <summary>The monotonic clock leases run on, in milliseconds (tests replace it).</summary>
    internal Func<long> NowMs { get; set; } = () => Environment.TickCount64;

    /// <summary>Bytes of one KV block in the cache's own dtype.</summary>
    public long BlockBytes => _runner.BlockBytes;

    /// <summary>Finished requests whose blocks are held for a decode instance.</summary>
    public int NumHeldRequests => _leases.Count;

    /// <summary>True when the last step had nothing to run and remote KV is still on its way: wait for it.</summary>
    public bool AwaitsRemoteKv => _numKvLoadsInFlight > 0 && !_lastStepRan;

    /// <summary>Milliseconds until the first lease expires; -1 without leases.</summary>
    public int MillisecondsToNextLeaseExpiry => _leases.MillisecondsToNextExpiry(NowMs());

    private static void CheckKvTransfer(EngineRequest request, Core.Sampling.SamplingParams samplingParams, IKvBlockFetcher? fetcher)
    {
        if (request.KvTransfer is not { } kv) return;
        if (kv.DoRemoteDecode && kv.RemotePrefill is not null)
            throw new ArgumentException("kv_transfer_params cannot ask for both do_remote_decode and do_remote_prefill.", "kv_transfer_params");
        if ((kv.DoRemoteDecode || kv.RemotePrefill is not null) && samplingParams.N != 1)
            throw new ArgumentException("kv_transfer_params needs n = 1.", "kv_transfer_params");
        if (kv.RemotePrefill is null) return;
        if (fetcher is null)
            throw new ArgumentException("This server cannot pull remote KV (serve it with --kv-role decode or both).", "kv_transfer_params");
        if (samplingParams.PromptLogprobs is not null)
            throw new ArgumentException("prompt_logprobs needs every prompt position computed here, not pulled.", "kv_transfer_params");
    }

    private static RemoteKvLoad? KvLoadFor(EngineRequest request) => request.KvTransfer?.RemotePrefill is null ? null : new RemoteKvLoad();

    /// <summary>Copies blocks a finished request holds (only those) in the cache's own dtype; call on the engine thread.</summary>
    public byte[] ExportHeldBlocks(string requestId, ReadOnlySpan<int> blockIds)
    {
        if (!_scheduler.IsHoldingBlocks(requestId))
            throw new ArgumentException($"Request '{requestId}' holds no KV blocks (never held, pulled already, or its lease expired).", "request_id");
        var held = _scheduler.HeldBlockIds(requestId);
        foreach (int id in blockIds)
            if (!held.Contains(id)) throw new ArgumentException($"Request '{requestId}' does not hold block {id}.", "block_ids");
        var data = new byte[checked(blockIds.Length * BlockBytes)];
        _runner.ExportBlocks(blockIds, data);
        return data;
    }

    /// <summary>Frees a held request's blocks and ends its lease; false if it held none.</summary>
    public bool ReleaseHeldBlocks(string requestId)
    {
        _leases.End(requestId);
        return _scheduler.ReleaseHeldBlocks(requestId);
    }

    /// <summary>Frees the blocks of every lease past its deadline; returns how many.</summary>
    public int ExpireLeases()
    {
        if (_leases.Count == 0) return 0;
        var expired = _leases.TakeExpired(NowMs());
        foreach (var id in expired) _scheduler.ReleaseHeldBlocks(id);
        return expired.Count;
    }

    /// <summary>On a do_remote_decode request's last output: the blocks it holds, now under a lease.</summary>
    private HeldKvBlocks? TakeHeldKv(RequestState state)
    {
        var id = state.Sequences[0].Request.RequestId;
        if (state.Request.KvTransfer?.DoRemoteDecode != true || !_scheduler.IsHoldingBlocks(id)) return null;
        _leases.Grant(id, NowMs());
        return new HeldKvBlocks(_scheduler.HeldBlockIds(id).ToArray(), state.Sequences[0].Request.NumComputedTokens);
    }

    /// <summary>Starts a pull for every request the scheduler just gave blocks to.</summary>
    private void StartKvLoads()
    {
        foreach (var request in _scheduler.TakeStartedKvLoads())
        {
            var source = _sequences[request.RequestId].Parent.Request.KvTransfer!.RemotePrefill!;
            _numKvLoadsInFlight++;
            _ = FetchAsync(request.RequestId, source, request.KvLoad!);
        }
    }

    private async Task FetchAsync(string requestId, RemoteKvSource source, RemoteKvLoad load)
    {
        byte[]? data = null;
        Exception? fault = null;
        try
        {
            int first = load.FirstBlockIndex, count = load.BlockIds.Length;
            if (source.BlockIds.Count < first + count)
                throw new InvalidDataException($"The prefill holds {source.BlockIds.Count} blocks but this prompt needs {first + count}: the prompts differ.");
            data = new byte[checked(count * BlockBytes)];
            await KvFetcher!.FetchAsync(source, [.. source.BlockIds.Skip(first).Take(count)], data, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            fault = e;
        }
        _kvArrivals.Enqueue(new KvArrival(requestId, data, fault));
        try { KvArrived?.Invoke(); } catch (ObjectDisposedException) { /* the engine shut down meanwhile */ }
    }

    /// <summary>
    /// Lands the pulls that finished (engine thread, between steps): imported and admitted, or per the request's
    /// kv_load_failure_policy recomputed or failed. A request ended meanwhile drops its KV.
    /// </summary>
    private void LandKvArrivals()
    {
        while (_kvArrivals.TryDequeue(out var arrival))
        {
            _numKvLoadsInFlight--;
            if (!_sequences.TryGetValue(arrival.RequestId, out var seq) || seq.Request.KvLoad is not { State: KvLoadState.InFlight } load)
                continue;
            if (arrival.Fault is null)
            {
                _runner.ImportBlocks(load.BlockIds, arrival.Data);
                _kvPulled = new KvPullTotals(_kvPulled.Requests + 1, _kvPulled.Blocks + load.BlockIds.Length, _kvPulled.Bytes + arrival.Data!.Length);
                _scheduler.CompleteKvLoad(arrival.RequestId, landed: true);
            }
            else if (seq.Parent.Request.KvTransfer!.FailurePolicy == KvLoadFailurePolicy.Recompute)
                _scheduler.CompleteKvLoad(arrival.RequestId, landed: false);
            else
                End(seq.Parent, new KvLoadFailedException(arrival.Fault));
        }
    }

    private readonly record struct KvArrival(string RequestId, byte[]? Data, Exception? Fault);
}

/// <summary>The prompt's KV could not be pulled from the prefill instance (kv_load_failure_policy fail).</summary>
public sealed class KvLoadFailedException(Exception cause)
    : Exception("The prompt's KV could not be pulled from the prefill instance: " + cause.Message, cause);
