namespace Loom.Engine.Sampling;

/// <summary>
/// Samples one token for each row of a step's [numSeqs, vocab] logits, each row with its own sequence's
/// <see cref="Sampler"/> (own generator, penalties and filters), so no row's result depends on the others.
/// Owns the scratch buffers the engine loop reuses every step.
/// </summary>
public sealed class BatchSampler
{
    private readonly SamplerScratch _scratch = new();

    /// <param name="samplers">[numSeqs] the state of the sequence each logits row belongs to.</param>
    /// <param name="logits">[numSeqs, vocab] row-major; edited in place (penalties, temperature).</param>
    /// <param name="results">[numSeqs] receives the sampled tokens.</param>
    public void Sample(ReadOnlySpan<Sampler> samplers, Span<float> logits, Span<SampledToken> results)
    {
        if (samplers.Length == 0) return;
        if (results.Length < samplers.Length)
            throw new ArgumentException($"results holds {results.Length} entries for {samplers.Length} samplers.", nameof(results));
        if (logits.Length % samplers.Length != 0)
            throw new ArgumentException($"logits length {logits.Length} is not a multiple of the {samplers.Length} rows.", nameof(logits));
        int vocab = logits.Length / samplers.Length;
        for (int i = 0; i < samplers.Length; i++)
            results[i] = samplers[i].Sample(logits.Slice(i * vocab, vocab), _scratch);
    }
}
