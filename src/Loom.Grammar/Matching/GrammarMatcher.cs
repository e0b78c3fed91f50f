using Loom.Grammar.Vocab;

namespace Loom.Grammar.Matching;

/// <summary>
/// One sequence's position in a grammar: advances on committed tokens, rolls back, says whether the output may end,
/// and fills the allowed-token bitmask. Not thread-safe; one per sequence. After the first few steps it allocates
/// only when its buffers grow.
/// </summary>
public sealed partial class GrammarMatcher
{
    private readonly TokenGrammar _grammar;
    private readonly TokenVocabulary _vocab;
    private readonly PushdownStepper _stepper;
    private readonly StackNodes _nodes = new();
    private readonly TrieLevels _levels = new();
    private readonly IntList _history = new(256);     // tops of every step, concatenated
    private readonly IntList _stepStart = new(64);    // [steps + 1] into _history
    private readonly List<ReachFlags> _stepFlags = new(64);
    private readonly IntList _scratchA = new(), _scratchB = new();
    private readonly HashSet<int> _orStates = [];

    internal GrammarMatcher(TokenGrammar grammar)
    {
        _grammar = grammar;
        _vocab = grammar.Vocabulary;
        _stepper = new PushdownStepper(grammar.Grammar, _nodes);
        _stepStart.Add(0);
        var g = grammar.Grammar;
        var flags = _stepper.Close([_nodes.Intern(g.RuleStart[g.Root], StackNodes.Bottom)], _history);
        PushStep(flags);
    }

    /// <summary>Tokens committed so far (and not rolled back).</summary>
    public int NumCommitted => _stepFlags.Count - 1;

    /// <summary>The output so far is a complete match: end-of-sequence is allowed now.</summary>
    public bool CanEnd => (_stepFlags[^1] & ReachFlags.End) != 0;

    /// <summary>Nothing but end-of-sequence can follow (or the sequence has already ended).</summary>
    public bool IsFinished => CurrentTops.Length == 0;

    private ReadOnlySpan<int> CurrentTops => _history.Span[_stepStart[_stepStart.Count - 2]..];

    /// <summary>Commits a token; returns false (state unchanged) if the grammar does not allow it.</summary>
    public bool TryAdvance(int tokenId)
    {
        if ((uint)tokenId >= (uint)_vocab.Size) return false;
        if (Array.IndexOf(_vocab.EosTokenIds, tokenId) >= 0)
        {
            if (!CanEnd) return false;
            PushStep(ReachFlags.None); // ended: nothing more is allowed
            return true;
        }
        return TryAdvanceBytes(_vocab.BytesOf(tokenId));
    }

    /// <summary>Commits raw bytes as one step (forced text); returns false (state unchanged) if they do not fit.</summary>
    public bool TryAdvanceBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return false;
        var flags = Read(CurrentTops, bytes, _scratchA);
        if (_scratchA.Count == 0 && (flags & ReachFlags.End) == 0) return false;
        _history.AddRange(_scratchA.Span);
        PushStep(flags);
        return true;
    }

    /// <summary>Undoes the last <paramref name="count"/> commits (speculative tokens that were not accepted).</summary>
    public void Rollback(int count)
    {
        if (count < 0 || count > NumCommitted) throw new ArgumentOutOfRangeException(nameof(count), count, $"0..{NumCommitted}");
        for (int i = 0; i < count; i++)
        {
            _stepStart.Truncate(_stepStart.Count - 1);
            _stepFlags.RemoveAt(_stepFlags.Count - 1);
        }
        _history.Truncate(_stepStart[_stepStart.Count - 1]);
    }

    /// <summary>Reads bytes from <paramref name="tops"/>; <paramref name="result"/> gets the final tops.</summary>
    private ReachFlags Read(ReadOnlySpan<int> tops, ReadOnlySpan<byte> bytes, IntList result)
    {
        // Alternate two buffers so that the last byte's tops land in result.
        IntList src = bytes.Length % 2 == 1 ? _scratchB : result;
        IntList dst = src == result ? _scratchB : result;
        src.Clear();
        src.AddRange(tops);
        var flags = ReachFlags.None;
        for (int i = 0; i < bytes.Length; i++)
        {
            dst.Clear();
            flags = _stepper.Step(src.Span, bytes[i], dst);
            if (dst.Count == 0 && (i < bytes.Length - 1 || (flags & ReachFlags.End) == 0))
            {
                result.Clear();
                return ReachFlags.None;
            }
            (src, dst) = (dst, src);
        }
        return flags;
    }

    private void PushStep(ReachFlags flags)
    {
        _stepStart.Add(_history.Count);
        _stepFlags.Add(flags);
    }
}
