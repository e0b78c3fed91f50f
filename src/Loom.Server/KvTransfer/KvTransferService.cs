using System.IO.Hashing;
using Google.Protobuf;
using Grpc.Core;
using Loom.Engine.KvTransfer;
using Loom.Server.Hosting;
using Loom.Server.KvTransfer.Wire;

namespace Loom.Server.KvTransfer;

/// <summary>
/// The prefill side of the KV service: every engine access (export, release) is a message to the engine thread
/// through <see cref="IKvBlockHolder"/>; this thread only checks, streams and checksums the copy it gets back.
/// </summary>
internal sealed class KvTransferService(ServerState state) : Wire.KvTransfer.KvTransferBase
{
    public override async Task PullBlocks(PullBlocksRequest request, IServerStreamWriter<KvBlock> responseStream, ServerCallContext context)
    {
        var holder = state.Model?.Engine as IKvBlockHolder
            ?? throw new RpcException(new Status(StatusCode.Unavailable, "No model is loaded."));
        if (request.EngineId != holder.EngineId)
            throw new RpcException(new Status(StatusCode.NotFound, $"This is engine {holder.EngineId}, not {request.EngineId} (the prefill instance restarted?)."));
        if (request.BlockIds.Count > 0 && request.BlockBytes != holder.BlockBytes)
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"Blocks here are {holder.BlockBytes} bytes, the puller's {request.BlockBytes}: model, block size or KV dtype differ."));
        int[] ids = [.. request.BlockIds];
        byte[] data = [];
        if (ids.Length > 0)
            try { data = await holder.ExportHeldBlocksAsync(request.RequestId, ids); }
            catch (ArgumentException e) { throw new RpcException(new Status(StatusCode.NotFound, e.Message)); }
        int bytes = (int)holder.BlockBytes;
        for (int i = 0; i < ids.Length; i++)
        {
            var block = data.AsMemory(i * bytes, bytes);
            await responseStream.WriteAsync(new KvBlock
            {
                BlockId = ids[i],
                Data = UnsafeByteOperations.UnsafeWrap(block),
                Xxhash3 = XxHash3.HashToUInt64(block.Span),
            }, context.CancellationToken);
        }
        if (!await holder.ReleaseHeldBlocksAsync(request.RequestId) && ids.Length == 0)
            throw new RpcException(new Status(StatusCode.NotFound, $"Request '{request.RequestId}' holds no KV blocks."));
    }
}
