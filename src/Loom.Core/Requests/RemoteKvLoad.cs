namespace Loom.Core.Requests;

/// <summary>Where a remote KV load stands (vLLM's WAITING_FOR_REMOTE_KVS and its way out).</summary>
public enum KvLoadState
{
    /// <summary>Queued: the scheduler has not yet allocated the blocks the KV lands in.</summary>
    Pending,
    /// <summary>Blocks allocated, KV on its way: the request may not be admitted.</summary>
    InFlight,
    /// <summary>Landed (its tokens count as computed) or given up (it computes its prompt itself).</summary>
    Done,
}

/// <summary>
/// The KV of a prompt computed on another instance (vLLM's <c>do_remote_prefill</c>). When the scheduler first reaches
/// the waiting request it looks up the request's own prefix-cache hits, allocates fresh blocks for the rest of the
/// prompt but its last token, and hands the load to the engine, which pulls exactly those blocks; the request stays
/// waiting until <see cref="Scheduling.Scheduler.CompleteKvLoad"/>. The last prompt token always runs locally: its
/// logits give the first output token.
/// </summary>
public sealed class RemoteKvLoad
{
    public KvLoadState State { get; internal set; }

    /// <summary>Block-table index of the first block to fill (the request's own cache hits come before it).</summary>
    public int FirstBlockIndex { get; internal set; }

    /// <summary>The local block ids to fill, in position order (block-table indices FirstBlockIndex onwards).</summary>
    public int[] BlockIds { get; internal set; } = [];

    /// <summary>Tokens with KV once the load lands: local hits plus the pulled blocks' tokens.</summary>
    public int NumTokens { get; internal set; }

    /// <summary>Prompt tokens the request's own prefix cache served (they shrink the pull).</summary>
    public int NumLocalTokens { get; internal set; }
}
