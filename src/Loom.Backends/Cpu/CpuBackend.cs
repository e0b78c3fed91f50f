using Loom.Backends.Cpu.Kernels;
using Loom.Backends.Cpu.Native;
using Loom.Models.Config;
using Loom.Models.Definition;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu;

/// <summary>
/// The CPU backend: weights are read in place from the weight source (memory-mapped, stored precision), the KV cache
/// and activations live in native memory owned by the executor, and matrix products use SIMD on all cores.
/// </summary>
public sealed class CpuBackend(int? numThreads = null, F16Widening f16Widening = F16Widening.Auto, Action<string>? log = null) : IBackend
{
    /// <summary>Threads for matrix products and attention (the caller's thread included).</summary>
    public int NumThreads { get; } = numThreads is int n && n > 0 ? n : Environment.ProcessorCount;

    public string Name => "cpu";

    public long KvBytesPerBlock(ModelConfig config, int blockSize, KvCacheDType dtype = KvCacheDType.Float32) =>
        PagedKvCache.BytesPerBlock(config.NumHiddenLayers, blockSize, config.KvSize, dtype);

    /// <summary>Memory the process may still use (respects container limits), less what it already holds.</summary>
    public long AvailableMemoryBytes =>
        Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - Environment.WorkingSet);

    public IModelExecutor LoadModel(ModelConfig config, IWeightSource weights, KvCacheSpec kvCache, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(kvCache);
        if (config.NumAttentionHeads % config.NumKeyValueHeads != 0)
            throw new ArgumentException($"num_attention_heads {config.NumAttentionHeads} is not a multiple of num_key_value_heads {config.NumKeyValueHeads}.", nameof(config));
        var definition = ModelDefinition.For(config);
        log?.Invoke($"CPU kernels: native {NativeCpuKernels.Status}.");
        var bound = CpuModelWeights.Load(definition, weights, progress);
        WidenF16(bound, (long)kvCache.NumBlocks * KvBytesPerBlock(config, kvCache.BlockSize, kvCache.DType));
        return new CpuModelExecutor(definition, bound, kvCache, NumThreads);
    }

    /// <summary>
    /// Applies the <see cref="F16Widening"/> policy to the layers' F16 weights and says what it cost. The KV cache is
    /// allocated after this, so its planned bytes are not free memory for the copy.
    /// </summary>
    private void WidenF16(CpuModelWeights weights, long kvCacheBytes)
    {
        if (f16Widening == F16Widening.Never || !InterleavedHalfGemm.ReadsWidenedF16) return;
        var linears = weights.F16LayerLinears().ToList();
        long bytes = linears.Sum(l => l.WidenableBytes);
        if (bytes == 0) return;
        if (f16Widening == F16Widening.Auto && bytes > (AvailableMemoryBytes - kvCacheBytes) / 4)
        {
            log?.Invoke($"F16 weights: no fp32 copy for prompts ({bytes / (1024.0 * 1024 * 1024):F2} GiB is over a quarter of the free memory; --widen-f16 always forces it).");
            return;
        }
        foreach (var linear in linears) linear.WidenF16ToF32();
        log?.Invoke($"F16 weights: an fp32 copy for prompts and large batches, {bytes / (1024.0 * 1024 * 1024):F2} GiB more (--widen-f16 never keeps F16 only).");
    }
}
