using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Loom.Engine.Sampling;

/// <summary>
/// Repetition, frequency and presence penalties for one sequence, applied as vLLM does:
/// repetition divides positive logits (multiplies negative ones) of every token seen in the prompt or the output;
/// then logit -= frequency * count_in_output and logit -= presence * [token in output].
/// Kept sparse (sets of seen tokens) so a sequence costs memory in proportion to its length, not the vocabulary.
/// </summary>
internal sealed class PenaltyProcessor : ILogitsProcessor
{
    private readonly float _repetition, _frequency, _presence;
    private readonly HashSet<int> _promptTokens; // distinct prompt ids; only the repetition penalty reads them
    private readonly Dictionary<int, int> _outputCounts = []; // token id -> occurrences in the output

    public PenaltyProcessor(float repetition, float frequency, float presence, ReadOnlySpan<int> promptTokenIds)
    {
        _repetition = repetition;
        _frequency = frequency;
        _presence = presence;
        _promptTokens = repetition != 1f ? [.. promptTokenIds] : [];
    }

    public static bool AnyActive(float repetition, float frequency, float presence) =>
        repetition != 1f || frequency != 0f || presence != 0f;

    public void Apply(Span<float> logits, int numOutputTokens)
    {
        if (_repetition != 1f)
        {
            foreach (int id in _promptTokens) ApplyRepetition(logits, id);
            foreach (var (id, _) in _outputCounts)
                if (!_promptTokens.Contains(id)) ApplyRepetition(logits, id);
        }
        if (_frequency == 0f && _presence == 0f) return;
        foreach (var (id, count) in _outputCounts)
            if ((uint)id < (uint)logits.Length) logits[id] -= _frequency * count + _presence;
    }

    public void Commit(int tokenId) => CollectionsMarshal.GetValueRefOrAddDefault(_outputCounts, tokenId, out _)++;

    public void Uncommit(int tokenId)
    {
        ref int count = ref CollectionsMarshal.GetValueRefOrNullRef(_outputCounts, tokenId);
        Debug.Assert(!Unsafe.IsNullRef(ref count), "only a committed token is taken back");
        if (--count == 0) _outputCounts.Remove(tokenId); // presence counts tokens present, not keys ever seen
    }

    private void ApplyRepetition(Span<float> logits, int id)
    {
        if ((uint)id >= (uint)logits.Length) return;
        ref float x = ref logits[id];
        x = x > 0 ? x / _repetition : x * _repetition;
    }
}
