namespace Loom.Server.Hosting;

/// <summary>A server's part in prefill/decode disaggregation (SGLang's and vLLM's kv_role).</summary>
public enum KvRole
{
    /// <summary>Serves do_remote_decode requests (prefill, hold the KV) and do_remote_prefill ones (pull and decode).</summary>
    Both,
    /// <summary>Serves do_remote_decode requests; refuses do_remote_prefill.</summary>
    Prefill,
    /// <summary>Serves do_remote_prefill requests; refuses do_remote_decode.</summary>
    Decode,
}

/// <summary>How the HTTP front end listens and admits requests (the engine's own settings are EngineOptions).</summary>
public sealed record ServerOptions
{
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port; <see cref="LoomServer.BaseUrl"/> tells which.</summary>
    public int Port { get; init; } = 8000;
    /// <summary>Names the model answers to in the "model" field; empty = the model's own name.</summary>
    public IReadOnlyList<string> ServedModelNames { get; init; } = [];
    /// <summary>When set, every /v1 call needs "Authorization: Bearer &lt;key&gt;".</summary>
    public string? ApiKey { get; init; }
    /// <summary>Sequences the engine runs at once (EngineOptions.MaxNumSeqs): in-flight work beyond it is waiting.</summary>
    public int MaxNumSeqs { get; init; } = 64;
    /// <summary>--max-waiting: waiting sequences beyond this get 503 + Retry-After.</summary>
    public int MaxWaiting { get; init; } = 1024;
    /// <summary>--shutdown-timeout: how long a drain lets running requests finish before aborting them.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Request bodies over this get 413; null = sized from the model's max_model_len (<see cref="RequestBodyLimit"/>).</summary>
    public long? MaxRequestBodyBytes { get; init; }
    /// <summary>
    /// --allowed-hosts: Host header values (no port; "*" = any) accepted besides the loopback names. Null: a loopback
    /// bind accepts only loopback names (DNS rebinding), any other bind accepts any Host.
    /// </summary>
    public IReadOnlyList<string>? AllowedHosts { get; init; }
    /// <summary>--max-connections: open connections beyond this are closed at once; null = derived from the fd limit.</summary>
    public int? MaxConcurrentConnections { get; init; }
    /// <summary>--keep-alive-timeout: how long an idle connection is kept between requests (vLLM's uvicorn: 5 s).</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// vLLM's --enable-prompt-tokens-details (on in Loom by default): report usage.prompt_tokens_details.cached_tokens.
    /// Off (--disable-prompt-tokens-details) for multi-tenant servers, where cache hits let one client confirm guesses
    /// about another's prompt.
    /// </summary>
    public bool EnablePromptTokensDetails { get; init; } = true;
    /// <summary>Retry-After seconds sent with 503.</summary>
    public int RetryAfterSeconds { get; init; } = 1;
    /// <summary>ASP.NET Core's own log output (requests are not logged per token).</summary>
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Warning;

    /// <summary>--kv-role: which side of prefill/decode disaggregation this server may take (both = either, or neither).</summary>
    public KvRole KvRole { get; init; } = KvRole.Both;
    /// <summary>--kv-port: where the gRPC KV service listens (0 = a free port); null = no KV service (nothing can pull from here).</summary>
    public int? KvPort { get; init; }
    /// <summary>--kv-host: the host a decode instance reaches the KV service at (remote_host); null = --host, or this machine's name on a wildcard bind.</summary>
    public string? KvAdvertiseHost { get; init; }
    /// <summary>--kv-load-failure-policy: what a decode request does when its KV cannot be pulled (vLLM's default: recompute).</summary>
    public Engine.KvTransfer.KvLoadFailurePolicy KvLoadFailurePolicy { get; init; } = Engine.KvTransfer.KvLoadFailurePolicy.Recompute;

    public void Validate()
    {
        if (KvPort is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(KvPort), KvPort, "kv-port must be in [0, 65535].");
        if (KvRole == KvRole.Prefill && KvPort is null) throw new ArgumentException("kv-role prefill needs --kv-port (decode instances pull from it).", nameof(KvPort));
        if (Port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port), Port, "port must be in [0, 65535].");
        if (MaxNumSeqs < 1) throw new ArgumentOutOfRangeException(nameof(MaxNumSeqs), MaxNumSeqs, "max-num-seqs must be at least 1.");
        if (MaxWaiting < 0) throw new ArgumentOutOfRangeException(nameof(MaxWaiting), MaxWaiting, "max-waiting must be >= 0.");
        if (ShutdownTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ShutdownTimeout), "shutdown-timeout must be >= 0.");
        if (MaxRequestBodyBytes < 1024) throw new ArgumentOutOfRangeException(nameof(MaxRequestBodyBytes), "the body limit must be at least 1 KiB.");
        if (MaxConcurrentConnections < 1) throw new ArgumentOutOfRangeException(nameof(MaxConcurrentConnections), "max-connections must be at least 1.");
        if (KeepAliveTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(KeepAliveTimeout), "keep-alive-timeout must be positive.");
        if (string.IsNullOrWhiteSpace(Host)) throw new ArgumentException("host must not be empty.", nameof(Host));
    }
}
