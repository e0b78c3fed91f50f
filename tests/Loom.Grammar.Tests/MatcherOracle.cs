using Loom.Grammar.Matching;

namespace Loom.Grammar.Tests;

/// <summary>Independent references for a matcher's mask, and random walks through allowed tokens.</summary>
internal static class MatcherOracle
{
    /// <summary>Brute force: try every token alone (advance, then roll back).</summary>
    public static ulong[] BruteForceMask(GrammarMatcher m, int vocabSize)
    {
        var mask = new ulong[(vocabSize + 63) / 64];
        for (int t = 0; t < vocabSize; t++)
        {
            if (!m.TryAdvance(t)) continue;
            TokenMask.Set(mask, t);
            m.Rollback(1);
        }
        return mask;
    }

    public static ulong[] Mask(GrammarMatcher m, int vocabSize)
    {
        var mask = new ulong[(vocabSize + 63) / 64];
        m.ComputeMask(mask);
        return mask;
    }

    public static int[] Members(ReadOnlySpan<ulong> mask, int vocabSize)
    {
        var list = new List<int>();
        for (int t = 0; t < vocabSize; t++) if (TokenMask.IsSet(mask, t)) list.Add(t);
        return [.. list];
    }

    /// <summary>
    /// Samples allowed tokens uniformly until EOS is taken or <paramref name="maxTokens"/> pass; returns the bytes
    /// produced and whether the walk ended on EOS. Biased toward ending once it can, so outputs stay short.
    /// </summary>
    public static (byte[] Output, bool Ended) RandomWalk(TokenGrammar g, Random rng, int maxTokens, double endBias = 0.3, Func<int, bool>? prefer = null)
    {
        var m = g.CreateMatcher();
        var vocab = g.Vocabulary;
        var mask = new ulong[vocab.MaskWords];
        var output = new List<byte>();
        for (int step = 0; step < maxTokens; step++)
        {
            m.ComputeMask(mask);
            if (m.CanEnd && (rng.NextDouble() < endBias || m.IsFinished)) return ([.. output], true);
            int[] allowed = [.. Members(mask, vocab.Size).Where(t => !vocab.EosTokenIds.Contains(t))];
            if (allowed.Length == 0) throw new InvalidOperationException($"dead end after '{System.Text.Encoding.UTF8.GetString([.. output])}'");
            int[] preferred = prefer == null || rng.NextDouble() < 0.5 ? [] : [.. allowed.Where(prefer)];
            int token = preferred.Length > 0 ? preferred[rng.Next(preferred.Length)] : allowed[rng.Next(allowed.Length)];
            if (!m.TryAdvance(token)) throw new InvalidOperationException($"mask allowed token {token} that the matcher refuses");
            output.AddRange(vocab.BytesOf(token).ToArray());
        }
        return ([.. output], false);
    }
}
