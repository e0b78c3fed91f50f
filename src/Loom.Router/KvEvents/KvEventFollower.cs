using Grpc.Core;
using Grpc.Net.Client;
using Loom.Core.KvCache;
using Loom.Router.Signals;
using Microsoft.Extensions.Logging;
using Wire = Loom.KvEvents.Wire;

namespace Loom.Router.KvEvents;

/// <summary>
/// Keeps one replica's prefix index equal to what the replica caches, from its KV cache events. The replica says where
/// it streams them (loom_kv_events_port on its /metrics); until it does, or while the stream is down, the index falls
/// back to learning routed prompts. Per connection: subscribe, wait until subscribed, take a snapshot, then apply
/// batches in sequence; a jump in sequence (batches dropped) takes a new snapshot. A broken connection is retried with
/// exponential backoff and resynchronized by snapshot.
/// </summary>
public sealed class KvEventFollower : IAsyncDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100), MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly string _address;
    private readonly ReplicaSignalPoller _signals;
    private readonly TimeSpan _portPollInterval;
    private readonly ILogger _logger;
    private readonly Hosting.RouterMetrics? _metrics;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private int _dropNextBatches;
    private long _numSnapshots;

    public KvEventFollower(string address, Routing.PrefixIndex index, ReplicaSignalPoller signals, TimeSpan portPollInterval, ILogger logger,
        Hosting.RouterMetrics? metrics = null)
    {
        _metrics = metrics;
        _address = address;
        Replay = new KvEventReplay(index);
        _signals = signals;
        _portPollInterval = portPollInterval;
        _logger = logger;
    }

    public KvEventReplay Replay { get; }

    /// <summary>Snapshots taken so far: one per connection, plus one per gap.</summary>
    public long NumSnapshots => Interlocked.Read(ref _numSnapshots);

    /// <summary>Jumps in sequence seen so far (each repaired by a snapshot).</summary>
    public long NumGaps => Interlocked.Read(ref _numGaps);
    private long _numGaps;

    /// <summary>The sequence number the index includes (null while not in sync). Read from any thread.</summary>
    public long? LastSequence => Volatile.Read(ref _lastSequence) is var s and >= 0 ? s : null;
    private long _lastSequence = -1;

    /// <summary>Tests: discard the next <paramref name="count"/> batches as if the network lost them.</summary>
    internal void DropNextBatches(int count) => Interlocked.Add(ref _dropNextBatches, count);

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    private async Task RunAsync(CancellationToken stop)
    {
        var backoff = FirstBackoff;
        while (!stop.IsCancellationRequested)
        {
            if (_signals.Get(_address).KvEventsPort is not { } port)
            {
                await DelayAsync(_portPollInterval, stop);
                continue;
            }
            try
            {
                await FollowAsync(port, () => backoff = FirstBackoff, stop);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return; // disposed: the call was cancelled (gRPC says so with an RpcException)
            }
            catch (Exception e)
            {
                _logger.LogDebug("KV events of {Replica}: {Error}; reconnecting in {Backoff} ms", _address, e.Message, backoff.TotalMilliseconds);
            }
            Desync();
            await DelayAsync(backoff, stop);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    private async Task FollowAsync(int port, Action synced, CancellationToken stop)
    {
        using var channel = GrpcChannel.ForAddress($"http://{new Uri(_address).Host}:{port}");
        var client = new Wire.KvEvents.KvEventsClient(channel);
        using var call = client.Subscribe(new Wire.SubscribeRequest(), cancellationToken: stop);
        await call.ResponseHeadersAsync; // the replica registered us: no batch after the snapshot can be missed silently
        await ResyncAsync(client, stop);
        synced();
        await foreach (var batch in call.ResponseStream.ReadAllAsync(stop))
        {
            if (TryDropForTest()) continue;
            if (Replay.Apply((long)batch.Seq, WireEvents.ToEvents(batch)) == ReplayOutcome.Gap)
            {
                Interlocked.Increment(ref _numGaps);
                _metrics?.ObserveKvGap(_address);
                await ResyncAsync(client, stop);
            }
            else
                Volatile.Write(ref _lastSequence, Replay.LastSequence ?? -1);
        }
    }

    private async Task ResyncAsync(Wire.KvEvents.KvEventsClient client, CancellationToken stop)
    {
        var snapshot = await client.SnapshotAsync(new Wire.SnapshotRequest(), cancellationToken: stop);
        Replay.ApplySnapshot((long)snapshot.Seq, WireEvents.ToHashes(snapshot));
        Replay.Index.FollowsEvents = true;
        Interlocked.Increment(ref _numSnapshots);
        _metrics?.ObserveKvSnapshot(_address);
        Volatile.Write(ref _lastSequence, (long)snapshot.Seq);
    }

    /// <summary>The stream is down: routing teaches the index again until the next snapshot replaces it.</summary>
    private void Desync()
    {
        Replay.Invalidate();
        Replay.Index.FollowsEvents = false;
        Volatile.Write(ref _lastSequence, -1);
    }

    private bool TryDropForTest()
    {
        int left = Volatile.Read(ref _dropNextBatches);
        while (left > 0)
        {
            int seen = Interlocked.CompareExchange(ref _dropNextBatches, left - 1, left);
            if (seen == left) return true;
            left = seen;
        }
        return false;
    }

    private static async Task DelayAsync(TimeSpan delay, CancellationToken stop)
    {
        try { await Task.Delay(delay, stop); }
        catch (OperationCanceledException) { /* stopping */ }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}

/// <summary>Wire messages to Loom.Core's event types; a malformed hash throws <see cref="InvalidDataException"/> (the connection resyncs).</summary>
internal static class WireEvents
{
    public static KvCacheEvent[] ToEvents(Wire.KvEventBatch batch)
    {
        var events = new KvCacheEvent[batch.Events.Count];
        for (int i = 0; i < events.Length; i++) events[i] = ToEvent(batch.Events[i]);
        return events;
    }

    public static IEnumerable<BlockHash> ToHashes(Wire.KvCacheSnapshot snapshot) =>
        snapshot.Blocks.Select(b => Loom.KvEvents.BlockHashBytes.FromBytes(b.BlockHash)).ToArray();

    private static KvCacheEvent ToEvent(Wire.KvCacheEvent e) => e.EventCase switch
    {
        Wire.KvCacheEvent.EventOneofCase.BlockStored => new BlockStored(Hashes(e.BlockStored.BlockHashes),
            e.BlockStored.HasParentBlockHash ? Loom.KvEvents.BlockHashBytes.FromBytes(e.BlockStored.ParentBlockHash) : null,
            [.. e.BlockStored.TokenIds], e.BlockStored.BlockSize),
        Wire.KvCacheEvent.EventOneofCase.BlockRemoved => new BlockRemoved(Hashes(e.BlockRemoved.BlockHashes)),
        Wire.KvCacheEvent.EventOneofCase.AllBlocksCleared => AllBlocksCleared.Instance,
        _ => throw new InvalidDataException($"Unknown KV cache event '{e.EventCase}'."),
    };

    private static BlockHash[] Hashes(Google.Protobuf.Collections.RepeatedField<Google.Protobuf.ByteString> hashes) =>
        [.. hashes.Select(Loom.KvEvents.BlockHashBytes.FromBytes)];
}
