namespace Loom.Engine.KvTransfer;

/// <summary>The decode side's way to a prefill instance's held KV (the gRPC client in Loom.Server; a direct call in tests).</summary>
public interface IKvBlockFetcher
{
    /// <summary>
    /// Pulls <paramref name="remoteBlockIds"/> of <paramref name="source"/>'s held request, in order, into
    /// <paramref name="destination"/> (remoteBlockIds.Count * blockBytes bytes), checking every block; the holder
    /// releases its lease once the pull completes (an empty list only releases it). Throws when the KV cannot be had.
    /// </summary>
    Task FetchAsync(RemoteKvSource source, IReadOnlyList<int> remoteBlockIds, Memory<byte> destination, CancellationToken cancellationToken);
}

/// <summary>The prefill side: what a KV service asks of the engine that holds finished requests' blocks.</summary>
public interface IKvBlockHolder
{
    /// <summary>Identifies this engine in <c>remote_engine_id</c> (a decode instance sends it back).</summary>
    string EngineId { get; }

    /// <summary>Bytes of one block in the cache's own dtype.</summary>
    long BlockBytes { get; }

    /// <summary>Copies held blocks of <paramref name="requestId"/> (ids it holds, checked) on the engine thread.</summary>
    Task<byte[]> ExportHeldBlocksAsync(string requestId, int[] blockIds);

    /// <summary>Frees a held request's blocks and ends its lease; false if it held none (released or expired).</summary>
    Task<bool> ReleaseHeldBlocksAsync(string requestId);
}
