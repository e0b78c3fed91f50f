using Loom.Backends;
using Loom.Models;
using Loom.Models.Config;

namespace Loom.Engine.Loading;

/// <summary>Turns the KV cache budget (bytes, or a fraction of the backend's free memory) into a number of blocks.</summary>
public static class KvCacheSizing
{
    /// <param name="maxModelLen">Lowered to the cache's capacity when the model's own limit would not fit and the user set none.</param>
    /// <param name="tokens">When set, the cache holds this many tokens (at most maxModelLen) whatever the byte budget.</param>
    /// <param name="draftBytesPerBlock">A draft model's bytes per block (its cache has the same blocks): each block costs both.</param>
    public static KvCacheSpec Plan(ModelConfig config, IBackend backend, EngineOptions engine, int? tokens, ref int maxModelLen,
        Action<string>? log, long draftBytesPerBlock = 0)
    {
        if (engine.BlockSize < 1) throw new ModelLoadException($"block_size must be at least 1, got {engine.BlockSize}.");
        if (tokens is < 1) throw new ModelLoadException($"The KV cache must hold at least one token, got {tokens}.");
        long bytesPerBlock = backend.KvBytesPerBlock(config, engine.BlockSize, engine.KvCacheDType) + draftBytesPerBlock;
        string why = "";
        long budget;
        if (tokens is int t) budget = (Math.Min(t, maxModelLen) + engine.BlockSize - 1) / engine.BlockSize * bytesPerBlock;
        else if (engine.KvCacheBytes is long explicitBytes) budget = explicitBytes;
        else (budget, why) = DefaultBudget(engine, maxModelLen, bytesPerBlock, backend.AvailableMemoryBytes);
        if (engine.KvCacheBytes is < 1)
            throw new ModelLoadException($"kv_cache_memory must be positive, got {engine.KvCacheBytes} bytes.");
        long blocks = Math.Min(budget / bytesPerBlock, int.MaxValue);
        if (blocks < 1)
            throw new ModelLoadException(
                $"The KV cache budget ({Mib(budget)}) is smaller than one block ({Mib(bytesPerBlock)}): raise --kv-cache-memory.");
        long capacity = blocks * engine.BlockSize;
        if (capacity < maxModelLen)
        {
            if (engine.MaxModelLen is not null && tokens is null)
                throw new ModelLoadException(
                    $"max_model_len {maxModelLen} needs more KV cache than the {capacity} tokens ({Mib(budget)}) given: raise --kv-cache-memory or lower --max-model-len.");
            log?.Invoke($"KV cache holds {capacity} tokens, fewer than the model's {maxModelLen}: max model len lowered to {capacity}.");
            maxModelLen = (int)capacity;
        }
        log?.Invoke($"KV cache: {blocks} blocks of {engine.BlockSize} tokens = {capacity} tokens ({Mib(blocks * bytesPerBlock)}, " +
            $"{bytesPerBlock / engine.BlockSize} bytes per token{(draftBytesPerBlock > 0 ? " with the draft model's" : "")}, {engine.KvCacheDType.DisplayName()}){why}.");
        return new KvCacheSpec((int)blocks, engine.BlockSize) { DType = engine.KvCacheDType };
    }

    /// <summary>
    /// The budget when none is given: what max_num_seqs sequences of max_model_len tokens can use at most, capped by
    /// KvCacheMemoryFraction of the backend's free memory (a fixed fraction reserved 2.4 GiB for a 5M-parameter model,
    /// and varied traffic gradually touched all of it). Returns the budget and the reason, for the start-up line.
    /// </summary>
    public static (long Bytes, string Reason) DefaultBudget(EngineOptions engine, int maxModelLen, long bytesPerBlock, long availableBytes)
    {
        long blocksPerSeq = ((long)maxModelLen + engine.BlockSize - 1) / engine.BlockSize;
        long usable = blocksPerSeq * engine.MaxNumSeqs * bytesPerBlock;
        long cap = (long)(availableBytes * engine.KvCacheMemoryFraction);
        return usable <= cap
            ? (usable, $", sized for {engine.MaxNumSeqs} sequences x {maxModelLen} tokens")
            : (cap, $", {engine.KvCacheMemoryFraction:P0} of available memory (less than {engine.MaxNumSeqs} sequences x {maxModelLen} tokens would use)");
    }

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MiB";
}
