namespace Loom.Engine.Sampling;

/// <summary>
/// Vocabulary-sized work buffers for sampling, reused across tokens and sequences so the hot path allocates nothing.
/// One instance per sampling thread (the engine loop owns one through <see cref="BatchSampler"/>); not thread-safe.
/// </summary>
public sealed class SamplerScratch
{
    /// <summary>[vocab] negated scaled logits of the candidate tokens; ascending order = most likely first.</summary>
    internal float[] SortKeys = [];
    /// <summary>[vocab] token ids matching <see cref="SortKeys"/>.</summary>
    internal int[] CandidateIds = [];
    /// <summary>[vocab] exp(logit - max) of the kept candidates, or of the whole row for an unfiltered draw.</summary>
    internal float[] Weights = [];
    /// <summary>[vocab] the raw logits row, kept when log-probabilities are asked for (the row is edited in place).</summary>
    internal float[] RawLogits = [];
    /// <summary>[20] ids and raw logits of the best tokens for top log-probabilities, best first.</summary>
    internal int[] TopIds = new int[20];
    internal float[] TopValues = new float[20];

    internal void EnsureCapacity(int vocabSize)
    {
        if (SortKeys.Length >= vocabSize) return;
        SortKeys = new float[vocabSize];
        CandidateIds = new int[vocabSize];
        Weights = new float[vocabSize];
        RawLogits = new float[vocabSize];
    }
}
