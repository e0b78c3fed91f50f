using Grpc.Core;
using Loom.Engine.KvEvents;
using Loom.KvEvents;
using Loom.Server.Hosting;
using Microsoft.Extensions.Hosting;
using EventsWire = Loom.KvEvents.Wire;

namespace Loom.Server.KvTransfer;

/// <summary>
/// KV cache events for routers, on the KV service's port: Subscribe forwards the engine's numbered batches as they are
/// published; Snapshot asks the engine thread for its cached blocks. This thread only translates to the wire. A stream
/// never ends by itself, so stopping the host ends it (the router reconnects to whatever replaces this one).
/// </summary>
internal sealed class KvEventsService(ServerState state, IHostApplicationLifetime lifetime) : EventsWire.KvEvents.KvEventsBase
{
    /// <summary>Unread batches one subscriber may hold before newer ones are dropped (it then sees a gap and resyncs).</summary>
    public const int SubscriberCapacity = 1024;

    public override async Task Subscribe(EventsWire.SubscribeRequest request, IServerStreamWriter<EventsWire.KvEventBatch> responseStream, ServerCallContext context)
    {
        using var subscription = Source().SubscribeKvEvents(SubscriberCapacity);
        using var ends = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        await context.WriteResponseHeadersAsync([]); // subscribed: the client may take its snapshot now
        try
        {
            await foreach (var batch in subscription.Batches.ReadAllAsync(ends.Token))
                await responseStream.WriteAsync(ToWire(batch), ends.Token);
        }
        catch (OperationCanceledException) when (ends.IsCancellationRequested)
        {
            // The router left, or this server is stopping: the stream simply ends.
        }
    }

    public override async Task<EventsWire.KvCacheSnapshot> Snapshot(EventsWire.SnapshotRequest request, ServerCallContext context)
    {
        var snapshot = await Source().KvSnapshotAsync();
        var wire = new EventsWire.KvCacheSnapshot { Seq = (ulong)snapshot.Sequence, BlockSize = snapshot.BlockSize };
        foreach (var block in snapshot.Blocks)
        {
            var cached = new EventsWire.CachedBlock { BlockHash = BlockHashBytes.ToBytes(block.BlockHash) };
            if (block.ParentBlockHash is { } parent) cached.ParentBlockHash = BlockHashBytes.ToBytes(parent);
            wire.Blocks.Add(cached);
        }
        return wire;
    }

    private IKvEventSource Source() =>
        state.Model?.Engine is IKvEventSource { KvEventsEnabled: true } source
            ? source
            : throw new RpcException(new Status(StatusCode.Unavailable, "This replica publishes no KV cache events (no model loaded, or events are off)."));

    private static EventsWire.KvEventBatch ToWire(Engine.KvEvents.KvEventBatch batch)
    {
        var wire = new EventsWire.KvEventBatch { Seq = (ulong)batch.Sequence, Ts = batch.Timestamp };
        foreach (var e in batch.Events) wire.Events.Add(ToWire(e));
        return wire;
    }

    private static EventsWire.KvCacheEvent ToWire(Core.KvCache.KvCacheEvent e) => e switch
    {
        Core.KvCache.BlockStored stored => new EventsWire.KvCacheEvent { BlockStored = ToWire(stored) },
        Core.KvCache.BlockRemoved removed => new EventsWire.KvCacheEvent { BlockRemoved = ToWire(removed) },
        Core.KvCache.AllBlocksCleared => new EventsWire.KvCacheEvent { AllBlocksCleared = new EventsWire.AllBlocksCleared() },
        _ => throw new ArgumentOutOfRangeException(nameof(e), e, "Unknown KV cache event."),
    };

    private static EventsWire.BlockStored ToWire(Core.KvCache.BlockStored stored)
    {
        var wire = new EventsWire.BlockStored { BlockSize = stored.BlockSize };
        foreach (var hash in stored.BlockHashes) wire.BlockHashes.Add(BlockHashBytes.ToBytes(hash));
        if (stored.ParentBlockHash is { } parent) wire.ParentBlockHash = BlockHashBytes.ToBytes(parent);
        wire.TokenIds.AddRange(stored.TokenIds);
        return wire;
    }

    private static EventsWire.BlockRemoved ToWire(Core.KvCache.BlockRemoved removed)
    {
        var wire = new EventsWire.BlockRemoved();
        foreach (var hash in removed.BlockHashes) wire.BlockHashes.Add(BlockHashBytes.ToBytes(hash));
        return wire;
    }
}
