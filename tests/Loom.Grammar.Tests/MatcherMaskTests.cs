using Loom.Grammar.Ast;
using Loom.Grammar.Compile;
using Loom.Grammar.Matching;

namespace Loom.Grammar.Tests;

public class MatcherMaskTests
{
    private static GrammarDefinition ListOfNumbers() => new GrammarDefinition()
        .Define("root", Expr.Seq(Expr.Lit("["), Expr.Optional(Expr.Seq(Expr.Ref("value"), Expr.Star(Expr.Seq(Expr.Lit(","), Expr.Ref("ws"), Expr.Ref("value"))))), Expr.Lit("]")))
        .Define("value", Expr.Or(Expr.Ref("number"), Expr.Ref("root")))
        .Define("number", Expr.Seq(Expr.Optional(Expr.Lit("-")), Expr.Plus(Expr.Chars('0', '9'))))
        .Define("ws", Expr.Optional(Expr.Lit(" ")));

    [Fact]
    public void Allowed_set_equals_brute_force_and_full_walk_on_random_walk_states()
    {
        var vocab = TestVocabularies.Synthetic("[]0-, ", 3, "12", "[1,", "],[");
        var g = new TokenGrammar(GrammarCompiler.Compile(ListOfNumbers()), vocab);
        AssertMasksAgreeAlongRandomWalks(g, seeds: 30, steps: 25);
    }

    [Fact]
    public void Rollback_then_replay_gives_the_same_masks()
    {
        var vocab = TestVocabularies.Synthetic("[]0-, ", 3);
        var g = new TokenGrammar(GrammarCompiler.Compile(ListOfNumbers()), vocab);
        var rng = new Random(7);
        var m = g.CreateMatcher();
        var taken = new List<int>();
        var masks = new List<ulong[]> { MatcherOracle.Mask(m, vocab.Size) };
        for (int i = 0; i < 20; i++)
        {
            int[] allowed = [.. MatcherOracle.Members(masks[^1], vocab.Size).Where(t => !vocab.EosTokenIds.Contains(t))];
            if (allowed.Length == 0) break;
            int t = allowed[rng.Next(allowed.Length)];
            Assert.True(m.TryAdvance(t));
            taken.Add(t);
            masks.Add(MatcherOracle.Mask(m, vocab.Size));
        }
        int back = taken.Count / 2;
        m.Rollback(back);
        Assert.Equal(masks[taken.Count - back], MatcherOracle.Mask(m, vocab.Size));
        for (int i = taken.Count - back; i < taken.Count; i++)
        {
            Assert.True(m.TryAdvance(taken[i]));
            Assert.Equal(masks[i + 1], MatcherOracle.Mask(m, vocab.Size));
        }
    }

    [Fact]
    public void Eos_is_allowed_exactly_when_the_grammar_can_end()
    {
        var vocab = TestVocabularies.Synthetic("ab", 2);
        var g = new TokenGrammar(GrammarCompiler.Compile(GrammarDefinition.FromExpr(Expr.Repeat(Expr.Lit("ab"), 1, 2))), vocab);
        var m = g.CreateMatcher();
        int eos = vocab.EosTokenIds[0];
        Assert.False(m.CanEnd);
        Assert.False(TokenMask.IsSet(MatcherOracle.Mask(m, vocab.Size), eos));
        Assert.True(m.TryAdvanceBytes("ab"u8));
        Assert.True(m.CanEnd);
        Assert.True(TokenMask.IsSet(MatcherOracle.Mask(m, vocab.Size), eos));
        Assert.True(m.TryAdvanceBytes("ab"u8));
        Assert.True(m.IsFinished);
        Assert.Equal([eos], MatcherOracle.Members(MatcherOracle.Mask(m, vocab.Size), vocab.Size));
        Assert.True(m.TryAdvance(eos));
        Assert.Empty(MatcherOracle.Members(MatcherOracle.Mask(m, vocab.Size), vocab.Size));
    }

    [Fact]
    public void Left_recursion_and_empty_languages_are_clear_errors()
    {
        var left = new GrammarDefinition().Define("root", Expr.Or(Expr.Seq(Expr.Ref("root"), Expr.Lit("a")), Expr.Lit("a")));
        Assert.Contains("left-recursive", Assert.Throws<GrammarException>(() => GrammarCompiler.Compile(left)).Message);
        var empty = GrammarDefinition.FromExpr(Expr.Seq(Expr.Lit("a"), Expr.Nothing));
        Assert.Contains("matches nothing", Assert.Throws<GrammarException>(() => GrammarCompiler.Compile(empty)).Message);
        var undefined = GrammarDefinition.FromExpr(Expr.Ref("missing"));
        Assert.Equal("missing", Assert.Throws<GrammarException>(() => GrammarCompiler.Compile(undefined)).Keyword);
    }

    internal static void AssertMasksAgreeAlongRandomWalks(TokenGrammar g, int seeds, int steps)
    {
        var vocab = g.Vocabulary;
        for (int seed = 0; seed < seeds; seed++)
        {
            var rng = new Random(seed);
            var m = g.CreateMatcher();
            for (int step = 0; step < steps; step++)
            {
                ulong[] mask = MatcherOracle.Mask(m, vocab.Size);
                ulong[] brute = MatcherOracle.BruteForceMask(m, vocab.Size);
                var walk = new ulong[vocab.MaskWords];
                m.ComputeMaskByFullWalk(walk);
                Assert.Equal(MatcherOracle.Members(brute, vocab.Size), MatcherOracle.Members(mask, vocab.Size));
                Assert.Equal(brute, walk);
                int[] allowed = [.. MatcherOracle.Members(mask, vocab.Size).Where(t => !vocab.EosTokenIds.Contains(t))];
                if (allowed.Length == 0) break;
                Assert.True(m.TryAdvance(allowed[rng.Next(allowed.Length)]));
            }
        }
    }
}
