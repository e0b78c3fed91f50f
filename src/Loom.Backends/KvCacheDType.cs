namespace Loom.Backends;

/// <summary>
/// Element type of the paged KV cache (vLLM's --kv-cache-dtype). bfloat16 halves the cache's memory, so twice the
/// tokens fit, and halves the bytes attention streams; keys and values are rounded once, when written.
/// </summary>
public enum KvCacheDType
{
    Float32,
    BFloat16,
}

public static class KvCacheDTypes
{
    /// <summary>The names the CLI accepts: auto (float32 on the CPU), fp32/float32, bf16/bfloat16.</summary>
    public static readonly string[] Names = ["auto", "fp32", "float32", "bf16", "bfloat16"];

    /// <summary>Parses a --kv-cache-dtype value; throws <see cref="ArgumentException"/> naming the accepted ones.</summary>
    public static KvCacheDType Parse(string value) => value.ToLowerInvariant() switch
    {
        "auto" or "fp32" or "float32" => KvCacheDType.Float32,
        "bf16" or "bfloat16" => KvCacheDType.BFloat16,
        _ => throw new ArgumentException($"Unknown KV cache dtype '{value}': expected one of {string.Join(", ", Names)}.", "kv_cache_dtype"),
    };

    public static int ElementSize(this KvCacheDType dtype) => dtype switch
    {
        KvCacheDType.Float32 => sizeof(float),
        KvCacheDType.BFloat16 => sizeof(ushort),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The name vLLM prints for it.</summary>
    public static string DisplayName(this KvCacheDType dtype) => dtype == KvCacheDType.BFloat16 ? "bfloat16" : "float32";
}
