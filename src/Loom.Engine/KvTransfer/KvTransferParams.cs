namespace Loom.Engine.KvTransfer;

/// <summary>What a decode instance does when the remote KV cannot be pulled (vLLM's <c>kv_load_failure_policy</c>).</summary>
public enum KvLoadFailurePolicy
{
    /// <summary>The request ends with an error.</summary>
    Fail,
    /// <summary>The request computes its prompt locally instead.</summary>
    Recompute,
}

/// <summary>
/// Where a prefill's KV is held, in vLLM's <c>kv_transfer_params</c> terms: the prefill reply's <c>remote_engine_id</c>,
/// <c>remote_request_id</c>, <c>remote_block_ids</c>, <c>remote_host</c> and <c>remote_port</c> (the KV service).
/// </summary>
public sealed record RemoteKvSource(string EngineId, string RequestId, IReadOnlyList<int> BlockIds, string Host, int Port);

/// <summary>A request's part in prefill/decode disaggregation (null on an <see cref="EngineRequest"/> = none).</summary>
public sealed record KvTransferRequest
{
    /// <summary>
    /// vLLM's <c>do_remote_decode</c>: this instance only prefills; the finished request's blocks stay held under a lease
    /// until a decode instance pulls them (or the lease times out), and its last output names them.
    /// </summary>
    public bool DoRemoteDecode { get; init; }

    /// <summary>vLLM's <c>do_remote_prefill</c>: the prompt's KV is pulled from here instead of computed.</summary>
    public RemoteKvSource? RemotePrefill { get; init; }

    public KvLoadFailurePolicy FailurePolicy { get; init; } = KvLoadFailurePolicy.Fail;
}

/// <summary>The blocks a finished <see cref="KvTransferRequest.DoRemoteDecode"/> request holds, in position order.</summary>
public sealed record HeldKvBlocks(IReadOnlyList<int> BlockIds, int NumTokens);
