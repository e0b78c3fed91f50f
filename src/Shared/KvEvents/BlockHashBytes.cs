using System.Buffers.Binary;
using Google.Protobuf;
using Loom.Core.KvCache;

namespace Loom.KvEvents;

/// <summary>A <see cref="BlockHash"/> on the wire: its 128 bits as 16 bytes, little-endian.</summary>
internal static class BlockHashBytes
{
    public const int Length = 16;

    public static ByteString ToBytes(BlockHash hash)
    {
        Span<byte> bytes = stackalloc byte[Length];
        BinaryPrimitives.WriteUInt128LittleEndian(bytes, hash.Value);
        return ByteString.CopyFrom(bytes);
    }

    /// <summary>Reads a hash; throws <see cref="InvalidDataException"/> when the field is not 16 bytes.</summary>
    public static BlockHash FromBytes(ByteString bytes)
    {
        if (bytes.Length != Length) throw new InvalidDataException($"A block hash is {Length} bytes, this one {bytes.Length}.");
        return new BlockHash(BinaryPrimitives.ReadUInt128LittleEndian(bytes.Span));
    }
}
