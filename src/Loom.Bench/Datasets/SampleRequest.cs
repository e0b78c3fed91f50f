namespace Loom.Bench.Datasets;

/// <summary>A prompt as sent: token ids (exact length; /v1/completions accepts them) or text (needed for chat).</summary>
public sealed record BenchPrompt(string? Text, IReadOnlyList<int>? TokenIds)
{
    public static BenchPrompt OfText(string text) => new(text, null);
    public static BenchPrompt OfTokens(IReadOnlyList<int> ids) => new(null, ids);
}

/// <summary>One request of a workload (vLLM's SampleRequest).</summary>
/// <param name="PromptLen">Prompt length in tokens (exact for token-id prompts; counted by the tokenizer for text).</param>
/// <param name="ExpectedOutputLen">max_tokens to ask for; with --ignore-eos the output has exactly this length.</param>
public sealed record SampleRequest(BenchPrompt Prompt, int PromptLen, int ExpectedOutputLen)
{
    /// <summary>Seconds since the trace began when the request arrived, for datasets that carry a trace.</summary>
    public double? TraceTimestamp { get; init; }
}

/// <summary>A workload: makes the requests of one run. The same seed gives the same requests.</summary>
public interface IBenchDataset
{
    /// <summary>Short name, as --dataset-name spells it.</summary>
    string Name { get; }

    IReadOnlyList<SampleRequest> Sample(int numRequests, Random rng);
}
