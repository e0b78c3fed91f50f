namespace Loom.Engine.Sampling;

/// <summary>Sees one logits row (by its index in the batch) just before it is sampled.</summary>
public delegate void RowObserver(int row, ReadOnlySpan<float> logits);

/// <summary>
/// Samples one token for each row of a step's [numSeqs, vocab] logits, each row with its own sequence's
/// <see cref="Sampler"/> (own generator, penalties and filters), so no row's result depends on the others, and no
/// row's failure reaches the others: an exception while sampling a row becomes that row's <see cref="SampledToken.Fault"/>.
/// Owns the scratch buffers the engine loop reuses every step.
/// </summary>
public sealed class BatchSampler
{
    private readonly SamplerScratch _scratch = new();

    /// <param name="samplers">[numSeqs] the state of the sequence each logits row belongs to.</param>
    /// <param name="logits">[numSeqs, vocab] row-major; edited in place (penalties, temperature).</param>
    /// <param name="results">[numSeqs] receives the sampled tokens.</param>
    /// <param name="observeRow">Called with each raw row before it is sampled (tests, debugging); its faults are the row's.</param>
    public void Sample(ReadOnlySpan<Sampler> samplers, Span<float> logits, Span<SampledToken> results, RowObserver? observeRow = null)
    {
        if (samplers.Length == 0) return;
        if (results.Length < samplers.Length)
            throw new ArgumentException($"results holds {results.Length} entries for {samplers.Length} samplers.", nameof(results));
        if (logits.Length % samplers.Length != 0)
            throw new ArgumentException($"logits length {logits.Length} is not a multiple of the {samplers.Length} rows.", nameof(logits));
        int vocab = logits.Length / samplers.Length;
        for (int i = 0; i < samplers.Length; i++)
            results[i] = SampleRow(samplers[i], logits.Slice(i * vocab, vocab), i, observeRow);
    }

    /// <summary>
    /// One request's rows of a speculative step, [1 + drafts, vocab]: row j verifies draft j (see
    /// <see cref="Sampler.SampleAgainstDraft(Span{float}, int, ReadOnlySpan{float}, SamplerScratch, out bool)"/>) until one is rejected; after all are accepted the last row samples the
    /// bonus token. Writes the emitted tokens (the accepted drafts, then the target's own) to <paramref name="results"/>
    /// and returns their count; a faulted row ends the run with its fault as the last result.
    /// </summary>
    /// <param name="firstRow">Index of the first row in the step, for <paramref name="observeRow"/>.</param>
    /// <param name="draftProbs">[drafts, vocab] the distribution each draft was drawn from; empty = point masses (q = 1).</param>
    public int SampleWithDrafts(Sampler sampler, Span<float> rows, ReadOnlySpan<int> drafts, Span<SampledToken> results, int firstRow,
        RowObserver? observeRow = null, ReadOnlySpan<float> draftProbs = default)
    {
        int vocab = sampler.VocabSize;
        for (int j = 0; j < drafts.Length; j++)
        {
            var row = rows.Slice(j * vocab, vocab);
            bool accepted = false;
            try
            {
                observeRow?.Invoke(firstRow + j, row);
                var q = draftProbs.IsEmpty ? default : draftProbs.Slice(j * vocab, vocab);
                results[j] = sampler.SampleAgainstDraft(row, drafts[j], q, _scratch, out accepted);
            }
            catch (Exception e)
            {
                results[j] = SampledToken.Failed(e);
            }
            if (!accepted) return j + 1;
        }
        results[drafts.Length] = SampleRow(sampler, rows.Slice(drafts.Length * vocab, vocab), firstRow + drafts.Length, observeRow);
        return drafts.Length + 1;
    }

    private SampledToken SampleRow(Sampler sampler, Span<float> row, int index, RowObserver? observeRow)
    {
        try
        {
            observeRow?.Invoke(index, row);
            return sampler.Sample(row, _scratch);
        }
        catch (Exception e)
        {
            return SampledToken.Failed(e);
        }
    }
}
