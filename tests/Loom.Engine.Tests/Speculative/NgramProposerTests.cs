using Loom.Engine.Speculative;

namespace Loom.Engine.Tests.Speculative;

public class NgramProposerTests
{
    private static int[] Propose(int min, int max, int k, params int[] tokens)
    {
        var drafts = new int[k];
        int n = new NgramProposer(min, max).Propose(tokens, drafts);
        return drafts[..n];
    }

    [Fact]
    public void Proposes_what_followed_the_suffix_earlier()
    {
        // suffix [1 2] occurred at 0; it was followed by 3 4 5.
        Assert.Equal([3, 4, 5], Propose(1, 2, 3, 1, 2, 3, 4, 5, 9, 1, 2));
    }

    [Fact]
    public void Prefers_the_longest_n_then_the_most_recent_match()
    {
        // 7 2 5 3 2 6 7 2: n = 2, [7 2], matches at 0 (followed by 5); n = 1, [2], most recently at 4 (followed by 6).
        Assert.Equal([5], Propose(1, 2, 1, 7, 2, 5, 3, 2, 6, 7, 2));
        Assert.Equal([6], Propose(1, 1, 1, 7, 2, 5, 3, 2, 6, 7, 2));
    }

    [Fact]
    public void A_match_near_the_end_continues_with_its_period()
    {
        // [5 5] matches at 1, one back from the suffix: period 1.
        Assert.Equal([5, 5, 5, 5], Propose(2, 2, 4, 1, 5, 5, 5));
        // 9 9 1 2 3 1 2: [1 2] matches at 2, three back from the suffix: period 3, so 3 1 2 3 1.
        Assert.Equal([3, 1, 2, 3, 1], Propose(2, 2, 5, 9, 9, 1, 2, 3, 1, 2));
    }

    [Theory]
    [InlineData(new[] { 1, 2, 3, 4 })]
    [InlineData(new[] { 4 })]
    [InlineData(new int[0])]
    public void Nothing_without_a_recurring_suffix(int[] tokens) => Assert.Empty(Propose(1, 3, 4, tokens));

    [Fact]
    public void Respects_the_minimum_n()
    {
        // [9 2] never recurs; [2] does, but min n is 2.
        Assert.Empty(Propose(2, 3, 2, 2, 4, 9, 2));
    }
}
