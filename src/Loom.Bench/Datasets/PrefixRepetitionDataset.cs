namespace Loom.Bench.Datasets;

/// <summary>
/// Shared-prefix workload (vLLM's "prefix_repetition"): --prefix-repetition-num-prefixes long "system prompts" of
/// --prefix-repetition-prefix-len tokens, each request one of them followed by its own random suffix. With prefix
/// caching the server computes each prefix once.
/// </summary>
public sealed class PrefixRepetitionDataset : IBenchDataset
{
    private readonly PromptFactory _prompts;
    private readonly int _prefixLen, _suffixLen, _numPrefixes, _outputLen;

    public PrefixRepetitionDataset(PromptFactory prompts, int prefixLen, int suffixLen, int numPrefixes, int outputLen)
    {
        if (prefixLen < 1) throw new ArgumentOutOfRangeException(nameof(prefixLen), prefixLen, "--prefix-repetition-prefix-len must be at least 1.");
        ArgumentOutOfRangeException.ThrowIfNegative(suffixLen);
        if (numPrefixes < 1) throw new ArgumentOutOfRangeException(nameof(numPrefixes), numPrefixes, "--prefix-repetition-num-prefixes must be at least 1.");
        if (outputLen < 1) throw new ArgumentOutOfRangeException(nameof(outputLen), outputLen, "--prefix-repetition-output-len must be at least 1.");
        (_prompts, _prefixLen, _suffixLen, _numPrefixes, _outputLen) = (prompts, prefixLen, suffixLen, numPrefixes, outputLen);
    }

    public string Name => "prefix";

    public IReadOnlyList<SampleRequest> Sample(int numRequests, Random rng)
    {
        var prefixes = Enumerable.Range(0, _numPrefixes).Select(_ => _prompts.RandomTokens(_prefixLen, rng)).ToArray();
        var requests = new SampleRequest[numRequests];
        for (int i = 0; i < numRequests; i++)
        {
            int[] ids = [.. prefixes[i % _numPrefixes], .. _prompts.RandomTokens(_suffixLen, rng)];
            requests[i] = _prompts.Make(ids, _outputLen, rng);
        }
        // Interleave prefixes in random order, as vLLM shuffles, so a cache cannot win just by recency.
        rng.Shuffle(requests);
        return requests;
    }
}
