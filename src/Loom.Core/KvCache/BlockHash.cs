using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Loom.Core.KvCache;

/// <summary>
/// Identity of a full KV block for prefix caching: the first 128 bits of SHA-256 over the parent block's hash and this
/// block's token ids. Chaining the parent makes the hash name the whole prefix, not just the block; 128 bits of a
/// cryptographic hash make an accidental collision (which would silently serve another prompt's KV) negligible.
/// </summary>
public readonly record struct BlockHash(UInt128 Value)
{
    /// <summary>The parent of the first block of every sequence.</summary>
    public static BlockHash Root => default;

    /// <summary>
    /// Root of the chain of a cache_salt: SHA-256 of the salt's UTF-8 bytes behind a domain tag, so no salt's chain meets
    /// the unsalted one (whose root is zero) or another salt's.
    /// </summary>
    public static BlockHash ForSalt(string salt)
    {
        ArgumentNullException.ThrowIfNull(salt);
        byte[] input = System.Text.Encoding.UTF8.GetBytes("loom-cache-salt\0" + salt);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, digest);
        return new BlockHash(BinaryPrimitives.ReadUInt128LittleEndian(digest));
    }

    /// <summary>Hash of a full block of tokens following the prefix named by <paramref name="parent"/>.</summary>
    public static BlockHash Compute(BlockHash parent, ReadOnlySpan<int> blockTokens)
    {
        int length = 16 + blockTokens.Length * sizeof(int);
        byte[]? rented = length > 1024 ? ArrayPool<byte>.Shared.Rent(length) : null;
        Span<byte> input = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
        try
        {
            BinaryPrimitives.WriteUInt128LittleEndian(input, parent.Value);
            for (int i = 0; i < blockTokens.Length; i++)
                BinaryPrimitives.WriteInt32LittleEndian(input[(16 + i * sizeof(int))..], blockTokens[i]);
            Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(input, digest);
            return new BlockHash(BinaryPrimitives.ReadUInt128LittleEndian(digest));
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override string ToString() => Value.ToString("x32");
}
