using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Engine.Output;
using CsCheck;

namespace Loom.Engine.Tests.Output;

/// <summary>
/// The tracker under the scheduler's token-based stops: <see cref="Run"/> hands each token the verdict the scheduler
/// reaches for it (<see cref="StopCheck.Evaluate"/>), as the engine does, so these scripts assert the whole stop
/// behaviour a client sees (length, EOS, stop ids, min_tokens, stop strings) through the new boundary.
/// </summary>
public class SequenceOutputTrackerTests
{
    private sealed record Tracked(SequenceOutputTracker Tracker, SamplingParams Params, int[] Eos, int PromptTokens, int MaxModelLen)
    {
        public bool IsFinished => Tracker.IsFinished;
        public FinishReason? FinishReason => Tracker.FinishReason;
        public StopReason StopReason => Tracker.StopReason;
        public string Text => Tracker.Text;
        public int NumTokens { get; set; }
        public OutputUpdate Abort() => Tracker.Abort();

        public OutputUpdate Append(int tokenId)
        {
            int n = ++NumTokens;
            return Tracker.Append(tokenId, n, StopCheck.Evaluate(Params, Eos, PromptTokens + n, n, tokenId, MaxModelLen));
        }
    }

    private static Tracked Make(SamplingParams p, ScriptedDecoder decoder, int[]? eos = null, int promptTokens = 3,
        int maxModelLen = 1000) => new(new SequenceOutputTracker(p.Validate(), decoder), p, eos ?? [], promptTokens, maxModelLen);

    /// <summary>Appends tokens 0, 1, 2, ... until the tracker finishes; returns the texts it released per token.</summary>
    private static List<string> Run(Tracked tracker, int count)
    {
        var texts = new List<string>();
        for (int t = 0; t < count && !tracker.IsFinished; t++) texts.Add(tracker.Append(t).NewText);
        return texts;
    }

    [Fact]
    public void AStopStringSplitAcrossTokensIsCutAndNotEmitted()
    {
        var tracker = Make(new SamplingParams { Stop = ["o wo"], MaxTokens = 10 }, ScriptedDecoder.Of("Hel", "lo ", "wor", "ld"));
        Assert.Equal(["Hel", "l", ""], Run(tracker, 4)); // "o " could start "o wo": held back, then dropped with the match
        Assert.Equal(FinishReason.Stop, tracker.FinishReason);
        Assert.Equal(StopReason.String("o wo"), tracker.StopReason);
        Assert.Equal("Hell", tracker.Text);
        Assert.Equal(3, tracker.NumTokens);
    }

    [Fact]
    public void IncludeStopStrInOutputKeepsTheStopTextButNothingAfterIt()
    {
        var p = new SamplingParams { Stop = ["o wo"], IncludeStopStrInOutput = true, MaxTokens = 10 };
        var tracker = Make(p, ScriptedDecoder.Of("Hel", "lo ", "world"));
        Assert.Equal(["Hel", "lo ", "wo"], Run(tracker, 3));
        Assert.Equal("Hello wo", tracker.Text);
    }

    [Fact]
    public void HeldBackTextIsReleasedOnceItCannotStartAStopString()
    {
        var tracker = Make(new SamplingParams { Stop = ["xyz"], MaxTokens = 10 }, ScriptedDecoder.Of("ab", "x", "y", "q", "!"));
        Assert.Equal(["ab", "", "", "xyq", "!"], Run(tracker, 5));
    }

    [Fact]
    public void HeldBackTextIsReleasedWhenTheSequenceEndsByLength()
    {
        var tracker = Make(new SamplingParams { Stop = ["xyz"], MaxTokens = 3 }, ScriptedDecoder.Of("ab", "x", "y"));
        Assert.Equal(["ab", "", "xy"], Run(tracker, 3));
        Assert.Equal(FinishReason.Length, tracker.FinishReason);
        Assert.Equal(StopReason.None, tracker.StopReason);
    }

    [Fact]
    public void TheEarliestStopStringWins()
    {
        var tracker = Make(new SamplingParams { Stop = ["cd", "bc"], MaxTokens = 10 }, ScriptedDecoder.Of("a", "bcd"));
        Run(tracker, 2);
        Assert.Equal("a", tracker.Text);
        Assert.Equal(StopReason.String("bc"), tracker.StopReason);
    }

    [Fact]
    public void EosStopsWithoutItsTextAndWithoutAStopReason()
    {
        var decoder = ScriptedDecoder.Of("Hi", "<eos>");
        var tracker = Make(new SamplingParams { MaxTokens = 10 }, decoder, eos: [1]);
        Assert.Equal(["Hi", ""], Run(tracker, 5));
        Assert.Equal(FinishReason.Stop, tracker.FinishReason);
        Assert.Equal(StopReason.None, tracker.StopReason);
    }

    [Fact]
    public void IgnoreEosKeepsGoingUntilLength()
    {
        var tracker = Make(new SamplingParams { MaxTokens = 3, IgnoreEos = true }, ScriptedDecoder.Of("a", "", "c"), eos: [1]);
        Assert.Equal(["a", "", "c"], Run(tracker, 5));
        Assert.Equal(FinishReason.Length, tracker.FinishReason);
    }

    [Fact]
    public void AStopTokenIdIsTheStopReason()
    {
        var tracker = Make(new SamplingParams { MaxTokens = 10, StopTokenIds = [2] }, ScriptedDecoder.Of("a", "b", "<|end|>", "d"));
        Assert.Equal(["a", "b", ""], Run(tracker, 4));
        Assert.Equal(StopReason.TokenId(2), tracker.StopReason);
    }

    [Fact]
    public void NothingStopsBeforeMinTokens()
    {
        var p = new SamplingParams { MaxTokens = 10, MinTokens = 3, StopTokenIds = [0], Stop = ["b"] };
        var tracker = Make(p, ScriptedDecoder.Of("", "b", "c", "b"), eos: [0]);
        Assert.Equal(["", "b", "c", ""], Run(tracker, 4));
        Assert.Equal(StopReason.String("b"), tracker.StopReason);
        Assert.Equal("bc", tracker.Text);
    }

    [Fact]
    public void TheModelLengthEndsTheSequence()
    {
        var tracker = Make(new SamplingParams { MaxTokens = 100 }, ScriptedDecoder.Of("a", "b", "c"), promptTokens: 5, maxModelLen: 7);
        Assert.Equal(["a", "b"], Run(tracker, 3));
        Assert.Equal(FinishReason.Length, tracker.FinishReason);
    }

    [Fact]
    public void UnicodeStopStringsAndHeldBackSurrogatePairs()
    {
        var tracker = Make(new SamplingParams { Stop = ["🙂x", "界"], MaxTokens = 10 }, ScriptedDecoder.Of("a🙂", "b世", "界!"));
        Assert.Equal(["a", "🙂b世", ""], Run(tracker, 3));
        Assert.Equal("a🙂b世", tracker.Text);
        Assert.Equal(StopReason.String("界"), tracker.StopReason);
    }

    [Fact]
    public void ACharacterSplitAcrossByteTokensIsReleasedWhole()
    {
        // Tokens 0 and 1 are the bytes of "é"; the decoder prints nothing until the character is complete.
        var decoder = new ScriptedDecoder(new Dictionary<int, string?> { [0] = null, [1] = "é", [2] = null }, new Dictionary<int, string> { [2] = "\uFFFD" });
        var tracker = Make(new SamplingParams { MaxTokens = 3 }, decoder);
        Assert.Equal(["", "é", "\uFFFD"], Run(tracker, 3)); // the dangling byte comes out on the final flush
    }

    [Fact]
    public void AbortEndsWithoutReleasingHeldText()
    {
        var tracker = Make(new SamplingParams { Stop = ["xy"], MaxTokens = 10 }, ScriptedDecoder.Of("a", "x"));
        Run(tracker, 2);
        var update = tracker.Abort();
        Assert.Equal(FinishReason.Abort, update.FinishReason);
        Assert.Equal("a", tracker.Text);
        Assert.Throws<InvalidOperationException>(() => tracker.Append(0));
    }

    /// <summary>Released text always equals the stream cut at the first stop string the tokens complete.</summary>
    [Fact]
    public void ReleasedTextConcatenatesToTheReference()
    {
        var piece = Gen.String[Gen.Char["ab🙂"], 0, 3];
        var gen = Gen.Select(piece.Array[1, 12], Gen.String[Gen.Char["ab"], 1, 3].Array[0, 3], Gen.Bool);
        gen.Sample((pieces, stops, include) =>
        {
            var p = new SamplingParams { Stop = stops, MaxTokens = pieces.Length, IncludeStopStrInOutput = include };
            var tracker = Make(p, ScriptedDecoder.Of(pieces));
            string released = string.Concat(Run(tracker, pieces.Length));
            Assert.Equal(Reference(pieces, stops, include), released);
            Assert.Equal(released, tracker.Text);
            Assert.True(tracker.IsFinished);
        }, iter: 500);
    }

    private static string Reference(string[] pieces, string[] stops, bool include)
    {
        string text = "";
        foreach (var piece in pieces)
        {
            int searchFrom = Math.Max(0, text.Length - (stops.Length == 0 ? 0 : stops.Max(s => s.Length)) + 1);
            text += piece;
            var hits = stops.Select(s => (s, at: text.IndexOf(s, searchFrom, StringComparison.Ordinal))).Where(h => h.at >= 0).ToList();
            if (hits.Count == 0) continue;
            var (stop, at) = hits.MinBy(h => h.at);
            return text[..(at + (include ? stop.Length : 0))];
        }
        return text;
    }
}
