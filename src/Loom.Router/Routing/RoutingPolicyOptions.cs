namespace Loom.Router.Routing;

/// <summary>
/// How the router weighs replicas. Defaults are the field's: the scorer weights of the Gateway API Inference Extension's
/// default scheduling profile (queue-scorer 2, kv-cache-utilization-scorer 2, prefix-cache-scorer 3) and SGLang's
/// cache-aware router thresholds (cache_threshold 0.5, balance_abs_threshold 32, balance_rel_threshold 1.0001).
/// </summary>
public sealed record RoutingPolicyOptions
{
    public double QueueWeight { get; init; } = 2;
    public double KvCacheWeight { get; init; } = 2;
    public double PrefixWeight { get; init; } = 3;

    /// <summary>A request whose best prefix match covers at least this fraction of its blocks goes to that replica (SGLang).</summary>
    public double CacheThreshold { get; init; } = 0.5;

    /// <summary>Loads are imbalanced when max - min exceeds this (in requests) and max exceeds min times <see cref="BalanceRelThreshold"/>.</summary>
    public int BalanceAbsThreshold { get; init; } = 32;

    public double BalanceRelThreshold { get; init; } = 1.0001;

    public void Validate()
    {
        foreach (var (name, value) in new[] { ("--queue-weight", QueueWeight), ("--kv-cache-weight", KvCacheWeight), ("--prefix-weight", PrefixWeight) })
            if (!(value >= 0) || double.IsInfinity(value)) throw new ArgumentException($"{name} must be a finite number >= 0, got {value}.", name);
        if (!(CacheThreshold is >= 0 and <= 1)) throw new ArgumentException($"--cache-threshold must lie in [0, 1], got {CacheThreshold}.", "--cache-threshold");
        if (BalanceAbsThreshold < 0) throw new ArgumentException($"--balance-abs-threshold must be >= 0, got {BalanceAbsThreshold}.", "--balance-abs-threshold");
        if (!(BalanceRelThreshold >= 1) || double.IsInfinity(BalanceRelThreshold))
            throw new ArgumentException($"--balance-rel-threshold must be a finite number >= 1, got {BalanceRelThreshold}.", "--balance-rel-threshold");
    }
}
