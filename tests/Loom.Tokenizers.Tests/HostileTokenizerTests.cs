using System.Text.RegularExpressions;
using Loom.Tests;

namespace Loom.Tokenizers.Tests;

/// <summary>tokenizer.json files written to hurt: catastrophic regexes, absurd ids (issue 16, defects 8 and 11).</summary>
public class HostileTokenizerTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(20);

    /// <summary>A byte-free BPE over a, b, c and "!" whose pre-tokenizer (or normalizer) is the given JSON.</summary>
    private static string Tokenizer(string preTokenizer = "null", string normalizer = "null", string vocabIds = "", string addedId = "0") => $$"""
        {
          "added_tokens": [{"id": {{addedId}}, "content": "<unk>", "special": true, "normalized": false}],
          "normalizer": {{normalizer}}, "pre_tokenizer": {{preTokenizer}}, "post_processor": null, "decoder": null,
          "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "!": 4 {{vocabIds}}}, "merges": []}
        }
        """;

    private const string Catastrophic = """{"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": false}""";

    private static readonly string Evil = new string('a', 40) + "!";   // 2^40 ways to fail before the "!"

    [Fact]
    public void ACatastrophicSplitPatternFailsTheRequestInsteadOfPinningACore()
    {
        var tokenizer = HfTokenizer.FromJson(Tokenizer(Catastrophic));
        var e = HostileFiles.ThrownWithin(Guard, () => tokenizer.Encode(Evil));
        var timeout = Assert.IsType<TokenizerTimeoutException>(e);
        Assert.Contains("$.pre_tokenizer.pattern", timeout.Message);
        Assert.Contains("(a+)+$", timeout.Message);
        Assert.DoesNotContain(Evil, timeout.Message);                  // the prompt is not echoed into logs
        Assert.Equal([1, 1, 4], tokenizer.Encode("aa!"));               // harmless text still tokenizes
    }

    [Fact]
    public void ACatastrophicReplaceNormalizerTimesOutToo()
    {
        const string replace = """{"type": "Replace", "pattern": {"Regex": "(a+)+$"}, "content": "b"}""";
        var tokenizer = HfTokenizer.FromJson(Tokenizer(normalizer: replace));
        Assert.IsType<TokenizerTimeoutException>(HostileFiles.ThrownWithin(Guard, () => tokenizer.Encode(Evil)));
        Assert.Equal([1, 2], tokenizer.Encode("ab"));
        Assert.Equal([2], tokenizer.Encode("aa"));                     // the literal replacement still applies
    }

    [Fact]
    public void KnownLinearPatternsCompileAsBeforeAndOthersGetAMatchTimeout()
    {
        Regex Compiled(string pattern) => TextPattern.From(new PatternDefinition(pattern, IsRegex: true, "t.json: $.p")).Regex;
        foreach (var known in new[] { ByteLevelSplitRegexes.Llama3, ByteLevelSplitRegexes.Qwen2, ByteLevelSplitRegexes.Gpt2 })
            Assert.Equal(Regex.InfiniteMatchTimeout, Compiled(known).MatchTimeout);
        Assert.Equal(TextPattern.MatchTimeout, Compiled(@"\p{N}{1,3}").MatchTimeout);
        Assert.Equal(TextPattern.MatchTimeout, Compiled("(a+)+$").MatchTimeout);
    }

    [Fact]
    public void ACancelledTokenStopsTokenization()
    {
        var tokenizer = HfTokenizer.FromJson(Tokenizer("""{"type": "Split", "pattern": {"Regex": "a|b"}, "behavior": "Isolated"}"""));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => tokenizer.Encode("ab", new EncodeOptions(Cancellation: cancelled.Token)));

        // Cancelled while running: the checks between matches end it long before the 4M-word text is done.
        string huge = string.Concat(Enumerable.Repeat("ab", 2_000_000));
        Assert.True(CancelledWhileRunning(tokenizer, huge), "a cancellation that arrived mid-run never stopped it in 5 tries");

        Assert.Equal([1, 2], tokenizer.Encode("ab", new EncodeOptions()));   // the thread's token is cleared afterwards
        Assert.Equal([1, 2], ((ITokenizer)tokenizer).Encode("ab", new EncodeOptions(AddSpecialTokens: true)));
    }

    /// <summary>
    /// Cancels 20 ms into an encode of <paramref name="text"/> from a thread of its own (CancellationTokenSource's timer
    /// fires on the thread pool, which a loaded run starves). A run that ended before the cancel arrived proves nothing
    /// and is tried again (a loaded 2-core CI machine has failed this test, the likely cause a late canceller).
    /// </summary>
    private static bool CancelledWhileRunning(HfTokenizer tokenizer, string text)
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            using var leaving = new CancellationTokenSource();
            using var started = new ManualResetEventSlim();
            var canceller = new Thread(() =>
            {
                started.Wait();
                Thread.Sleep(20);
                leaving.Cancel();
            }) { IsBackground = true };
            canceller.Start();
            var e = HostileFiles.ThrownWithin(Guard, () =>
            {
                started.Set();
                tokenizer.Encode(text, new EncodeOptions(Cancellation: leaving.Token));
            });
            canceller.Join();
            if (e != null)
            {
                Assert.IsAssignableFrom<OperationCanceledException>(e);
                return true;
            }
        }
        return false;
    }

    [Theory]
    [InlineData(int.MaxValue)]        // was: OverflowException naming no file
    [InlineData(1 << 30)]             // was: a 2^30-entry id table (8 GiB)
    [InlineData(7)]                   // one past the 6 vocab + 1 added entries
    public void AVocabIdPastTheEntriesIsRefusedNamingFileAndField(int id)
    {
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromJson(Tokenizer(vocabIds: $""", "ab": {id}""")));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("$.model.vocab.ab", e.Message);
        Assert.Contains($"token id {id} is out of range", e.Message);
    }

    [Fact]
    public void AnAddedTokenIdPastTheEntriesIsRefusedNamingTheField()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromJson(Tokenizer(addedId: "1000000000")));
        Assert.Contains("$.added_tokens[0].id", e.Message);
        Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromJson(Tokenizer(addedId: "-1")));
        Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromJson(Tokenizer(vocabIds: """, "ab": -3""")));
    }

    [Fact]
    public void IdsUpToTheEntryCountStillLoad()
    {
        // ids 0..4 are taken; "ab" at 5 fits because the added <unk> shares id 0 and leaves a slot of the 7 entries.
        var tokenizer = HfTokenizer.FromJson(Tokenizer(vocabIds: """, "ab": 5""").Replace("\"a\": 1", "\"a\": 6"));
        Assert.Equal(7, tokenizer.VocabSize);
        Assert.Equal("a", tokenizer.IdToToken(6));
    }
}
