namespace Loom.Bench.Datasets;

/// <summary>
/// vLLM's "random" dataset: input and output lengths drawn uniformly from [len * (1 - r), len * (1 + r)]
/// (r = --random-range-ratio, 0 gives fixed lengths), prompts of random tokens after an optional shared prefix of
/// --random-prefix-len tokens.
/// </summary>
public sealed class RandomDataset : IBenchDataset
{
    private readonly PromptFactory _prompts;
    private readonly int _inputLen, _outputLen, _prefixLen;
    private readonly double _rangeRatio;

    public RandomDataset(PromptFactory prompts, int inputLen, int outputLen, double rangeRatio = 0, int prefixLen = 0)
    {
        if (inputLen < 1) throw new ArgumentOutOfRangeException(nameof(inputLen), inputLen, "--random-input-len must be at least 1.");
        if (outputLen < 1) throw new ArgumentOutOfRangeException(nameof(outputLen), outputLen, "--random-output-len must be at least 1.");
        if (rangeRatio is < 0 or >= 1 || double.IsNaN(rangeRatio)) throw new ArgumentOutOfRangeException(nameof(rangeRatio), rangeRatio, "--random-range-ratio must be in [0, 1).");
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLen);
        (_prompts, _inputLen, _outputLen, _rangeRatio, _prefixLen) = (prompts, inputLen, outputLen, rangeRatio, prefixLen);
    }

    public string Name => "random";

    public (int Low, int High) InputRange => Range(_inputLen, _rangeRatio, 0);
    public (int Low, int High) OutputRange => Range(_outputLen, _rangeRatio, 1);

    public IReadOnlyList<SampleRequest> Sample(int numRequests, Random rng)
    {
        var prefix = _prompts.RandomTokens(_prefixLen, rng);
        var (inLow, inHigh) = InputRange;
        var (outLow, outHigh) = OutputRange;
        var requests = new SampleRequest[numRequests];
        for (int i = 0; i < numRequests; i++)
        {
            int inputLen = rng.Next(inLow, inHigh + 1), outputLen = rng.Next(outLow, outHigh + 1);
            int[] ids = [.. prefix, .. _prompts.RandomTokens(inputLen, rng)];
            requests[i] = _prompts.Make(ids, outputLen, rng);
        }
        return requests;
    }

    /// <summary>vLLM: low = floor(len * (1 - r)), high = ceil(len * (1 + r)), both inclusive; low at least minimum.</summary>
    private static (int Low, int High) Range(int length, double ratio, int minimum) =>
        (Math.Max((int)Math.Floor(length * (1 - ratio)), minimum), Math.Max((int)Math.Ceiling(length * (1 + ratio)), minimum));
}
