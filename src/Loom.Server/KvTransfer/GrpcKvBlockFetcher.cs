using System.Collections.Concurrent;
using System.IO.Hashing;
using Grpc.Core;
using Grpc.Net.Client;
using Loom.Engine.KvTransfer;
using Loom.Server.KvTransfer.Wire;

namespace Loom.Server.KvTransfer;

/// <summary>
/// The decode side of the KV service: pulls blocks over gRPC (one channel per prefill instance, reused), checking each
/// block's id, size and checksum as it lands in the destination.
/// </summary>
public sealed class GrpcKvBlockFetcher : IKvBlockFetcher, IDisposable
{
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new();

    /// <summary>How long one pull may take, connection included.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    public async Task FetchAsync(RemoteKvSource source, IReadOnlyList<int> remoteBlockIds, Memory<byte> destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(remoteBlockIds);
        int count = remoteBlockIds.Count;
        int bytes = count == 0 ? 0 : destination.Length / count;
        var client = new Wire.KvTransfer.KvTransferClient(ChannelTo(source.Host, source.Port));
        var request = new PullBlocksRequest { EngineId = source.EngineId, RequestId = source.RequestId, BlockBytes = bytes };
        request.BlockIds.AddRange(remoteBlockIds);
        using var call = client.PullBlocks(request, deadline: DateTime.UtcNow + Timeout, cancellationToken: cancellationToken);
        int received = 0;
        await foreach (var block in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (received == count || block.BlockId != remoteBlockIds[received])
                throw new InvalidDataException($"Block {received} of the pull came back as block {block.BlockId}.");
            if (block.Data.Length != bytes)
                throw new InvalidDataException($"Block {block.BlockId} has {block.Data.Length} bytes, not {bytes}.");
            if (XxHash3.HashToUInt64(block.Data.Span) != block.Xxhash3)
                throw new InvalidDataException($"Block {block.BlockId} failed its checksum.");
            block.Data.Span.CopyTo(destination.Span.Slice(received * bytes, bytes));
            received++;
        }
        if (received != count) throw new InvalidDataException($"The pull ended after {received} of {count} blocks.");
    }

    private GrpcChannel ChannelTo(string host, int port) =>
        _channels.GetOrAdd($"{host}:{port}", address => GrpcChannel.ForAddress($"http://{address}"));

    public void Dispose()
    {
        foreach (var channel in _channels.Values) channel.Dispose();
        _channels.Clear();
    }
}
