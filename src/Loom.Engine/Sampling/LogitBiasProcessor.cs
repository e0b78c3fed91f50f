namespace Loom.Engine.Sampling;

/// <summary>OpenAI's logit_bias: a fixed value added to the logits of the named tokens (after penalties, as vLLM).</summary>
internal sealed class LogitBiasProcessor(IReadOnlyDictionary<int, float> bias) : ILogitsProcessor
{
    private readonly int[] _ids = [.. bias.Keys];      // [entries] token ids, matching _values
    private readonly float[] _values = [.. bias.Values]; // [entries] added to those logits

    public void Apply(Span<float> logits, int numOutputTokens)
    {
        for (int i = 0; i < _ids.Length; i++)
            if ((uint)_ids[i] < (uint)logits.Length) logits[_ids[i]] += _values[i];
    }

    public void Commit(int tokenId) { }

    public void Uncommit(int tokenId) { }
}
