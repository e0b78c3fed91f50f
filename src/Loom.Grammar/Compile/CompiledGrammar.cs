namespace Loom.Grammar.Compile;

/// <summary>
/// A grammar as a pushdown automaton over bytes: every rule is a DFA over byte classes whose states may also call other
/// rules (push the return state, enter the callee's start state). States of all rules share one numbering. Immutable,
/// vocabulary-independent, shared by every matcher of the grammar.
/// </summary>
public sealed class CompiledGrammar
{
    internal CompiledGrammar(string[] ruleNames, int root, int[] ruleStart, byte[] byteClass, int classCount,
        int[] next, bool[] accepting, int[] ruleOf, int[] callOffset, int[] callRule, int[] callReturn)
    {
        RuleNames = ruleNames;
        Root = root;
        RuleStart = ruleStart;
        ByteClass = byteClass;
        ClassCount = classCount;
        Next = next;
        Accepting = accepting;
        RuleOf = ruleOf;
        CallOffset = callOffset;
        CallRule = callRule;
        CallReturn = callReturn;
        HasBytes = new bool[StateCount];
        for (int s = 0; s < StateCount; s++)
            for (int c = 0; c < classCount && !HasBytes[s]; c++) HasBytes[s] = next[s * classCount + c] >= 0;
        ReturnSites = BuildReturnSites();
        IsPlain = new bool[StateCount];
        for (int st = 0; st < StateCount; st++)
            IsPlain[st] = HasBytes[st] && !accepting[st] && callOffset[st] == callOffset[st + 1];
    }

    internal string[] RuleNames { get; }
    internal int Root { get; }
    internal int[] RuleStart { get; }          // [rules] the start state of each rule
    internal byte[] ByteClass { get; }         // [256] byte -> class
    internal int ClassCount { get; }
    internal int[] Next { get; }               // [states * classes] byte transition target, -1 none
    internal bool[] Accepting { get; }         // [states] the rule may end here (pop)
    internal int[] RuleOf { get; }             // [states] owning rule
    internal int[] CallOffset { get; }         // [states + 1] into CallRule/CallReturn
    internal int[] CallRule { get; }           // [calls] rule entered
    internal int[] CallReturn { get; }         // [calls] state resumed after the callee ends
    internal bool[] HasBytes { get; }          // [states] some byte transition leaves this state
    internal int[][] ReturnSites { get; }
    /// <summary>[states] reads bytes only: no call, no return, so reaching it needs no closure (the walks' fast path).</summary>
    internal bool[] IsPlain { get; }      // [rules] every state resumed after a call of that rule

    public int StateCount => Accepting.Length;
    public int RuleCount => RuleNames.Length;

    internal int Step(int state, byte b) => Next[state * ClassCount + ByteClass[b]];

    private int[][] BuildReturnSites()
    {
        var sites = new List<int>[RuleCount];
        for (int r = 0; r < RuleCount; r++) sites[r] = [];
        for (int i = 0; i < CallRule.Length; i++) sites[CallRule[i]].Add(CallReturn[i]);
        return [.. sites.Select(s => s.Distinct().ToArray())];
    }
}
