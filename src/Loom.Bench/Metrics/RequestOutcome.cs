namespace Loom.Bench.Metrics;

/// <summary>
/// What the client saw for one request (vLLM's RequestFuncOutput). Times are seconds on the client's monotonic clock.
/// </summary>
public sealed record RequestOutcome
{
    public bool Success { get; init; }
    /// <summary>Prompt length in tokens as the workload defined it.</summary>
    public int PromptLen { get; init; }
    /// <summary>usage.completion_tokens reported by the server; 0 when the server sent no usage.</summary>
    public int OutputTokens { get; init; }
    /// <summary>Time to the first chunk that carried a choice, from the moment the request was sent.</summary>
    public double Ttft { get; init; }
    /// <summary>Gaps between consecutive chunks after the first (one entry per chunk, not per token).</summary>
    public IReadOnlyList<double> Itl { get; init; } = [];
    /// <summary>From sending the request to the last chunk that carried a choice (vLLM's latency, i.e. E2EL).</summary>
    public double Latency { get; init; }
    /// <summary>When the request was sent, in seconds since the benchmark started.</summary>
    public double StartTime { get; init; }
    public string GeneratedText { get; init; } = "";
    public string Error { get; init; } = "";
    /// <summary>Times the request was sent again because its connection closed before any response byte arrived.</summary>
    public int Resends { get; init; }

    public static RequestOutcome Failed(int promptLen, double startTime, string error) =>
        new() { Success = false, PromptLen = promptLen, StartTime = startTime, Error = error };
}
