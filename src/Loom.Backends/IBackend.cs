using Loom.Models.Config;
using Loom.Models.Weights;

namespace Loom.Backends;

/// <summary>
/// A compute backend (the CPU today; a CUDA one would implement the same). It owns weights, KV blocks and activations on its device;
/// the engine sees only block ids and token ids.
/// </summary>
public interface IBackend
{
    /// <summary>"cpu" (the only backend built so far).</summary>
    string Name { get; }

    /// <summary>Bytes one KV block takes across all layers (K and V), so the engine can size the cache.</summary>
    long KvBytesPerBlock(ModelConfig config, int blockSize, KvCacheDType dtype = KvCacheDType.Float32);

    /// <summary>Bytes the backend can give to the KV cache after weights (for fraction-of-memory sizing).</summary>
    long AvailableMemoryBytes { get; }

    /// <summary>Upload/prepare weights and allocate a KV cache of numBlocks blocks of blockSize tokens.</summary>
    IModelExecutor LoadModel(ModelConfig config, IWeightSource weights, KvCacheSpec kvCache, IProgress<double>? progress = null);
}

/// <summary>Shape of the paged KV cache: numBlocks blocks, each holding blockSize tokens for every layer.</summary>
public sealed record KvCacheSpec(int NumBlocks, int BlockSize)
{
    /// <summary>Element type of the cached keys and values.</summary>
    public KvCacheDType DType { get; init; } = KvCacheDType.Float32;
}
