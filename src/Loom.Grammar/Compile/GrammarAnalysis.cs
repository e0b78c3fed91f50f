namespace Loom.Grammar.Compile;

/// <summary>
/// Whole-grammar checks after determinisation: the grammar must match something, no rule may be left-recursive (the
/// matcher's closure would not terminate), and edges into dead ends are removed so that every state the matcher can
/// reach can still finish: that is what makes "this token is allowed" mean "some valid completion exists".
/// </summary>
internal static class GrammarAnalysis
{
    public static CompiledGrammar CheckAndTrim(CompiledGrammar g)
    {
        var (coReach, productive) = Productive(g);
        if (!productive[g.Root]) throw new GrammarException("the grammar matches nothing (no complete output satisfies it)");
        var trimmed = Trim(g, coReach, productive);
        CheckLeftRecursion(trimmed);
        return trimmed;
    }

    /// <summary>coReach[s]: from s the rule can end; productive[r]: rule r matches some string.</summary>
    private static (bool[] CoReach, bool[] Productive) Productive(CompiledGrammar g)
    {
        var coReach = (bool[])g.Accepting.Clone();
        var productive = new bool[g.RuleCount];
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int s = 0; s < g.StateCount; s++)
            {
                if (coReach[s] || !CanAdvanceTo(g, s, coReach, productive)) continue;
                coReach[s] = changed = true;
            }
            for (int r = 0; r < g.RuleCount; r++)
            {
                bool p = g.RuleStart[r] >= 0 && coReach[g.RuleStart[r]];
                if (p && !productive[r]) productive[r] = changed = true;
            }
        }
        return (coReach, productive);
    }

    private static bool CanAdvanceTo(CompiledGrammar g, int s, bool[] good, bool[] callable)
    {
        for (int c = 0; c < g.ClassCount; c++)
        {
            int t = g.Next[s * g.ClassCount + c];
            if (t >= 0 && good[t]) return true;
        }
        for (int i = g.CallOffset[s]; i < g.CallOffset[s + 1]; i++)
            if (callable[g.CallRule[i]] && good[g.CallReturn[i]]) return true;
        return false;
    }

    private static CompiledGrammar Trim(CompiledGrammar g, bool[] coReach, bool[] productive)
    {
        var next = (int[])g.Next.Clone();
        for (int i = 0; i < next.Length; i++) if (next[i] >= 0 && !coReach[next[i]]) next[i] = -1;
        var callOffset = new int[g.StateCount + 1];
        var callRule = new List<int>();
        var callReturn = new List<int>();
        for (int s = 0; s < g.StateCount; s++)
        {
            for (int i = g.CallOffset[s]; i < g.CallOffset[s + 1]; i++)
            {
                if (!productive[g.CallRule[i]] || !coReach[g.CallReturn[i]]) continue;
                callRule.Add(g.CallRule[i]);
                callReturn.Add(g.CallReturn[i]);
            }
            callOffset[s + 1] = callRule.Count;
        }
        return new CompiledGrammar(g.RuleNames, g.Root, g.RuleStart, g.ByteClass, g.ClassCount, next, g.Accepting,
            g.RuleOf, callOffset, [.. callRule], [.. callReturn]);
    }

    private static void CheckLeftRecursion(CompiledGrammar g)
    {
        bool[] nullable = Nullable(g);
        var leftCalls = new List<int>[g.RuleCount];
        for (int r = 0; r < g.RuleCount; r++) leftCalls[r] = g.RuleStart[r] < 0 ? [] : LeftCalls(g, r, nullable);
        var state = new byte[g.RuleCount]; // 0 new, 1 on the path, 2 done
        for (int r = 0; r < g.RuleCount; r++) Visit(r);

        void Visit(int r)
        {
            if (state[r] == 2) return;
            if (state[r] == 1)
                throw new GrammarException($"rule '{g.RuleNames[r]}' is left-recursive (it can call itself before reading " +
                    "any input), which is not supported: rewrite it with repetition", g.RuleNames[r]);
            state[r] = 1;
            foreach (int callee in leftCalls[r]) Visit(callee);
            state[r] = 2;
        }
    }

    private static bool[] Nullable(CompiledGrammar g)
    {
        var reach = (bool[])g.Accepting.Clone();
        var nullable = new bool[g.RuleCount];
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int s = 0; s < g.StateCount; s++)
            {
                if (reach[s]) continue;
                for (int i = g.CallOffset[s]; i < g.CallOffset[s + 1] && !reach[s]; i++)
                    if (nullable[g.CallRule[i]] && reach[g.CallReturn[i]]) reach[s] = changed = true;
            }
            for (int r = 0; r < g.RuleCount; r++)
                if (g.RuleStart[r] >= 0 && reach[g.RuleStart[r]] && !nullable[r]) nullable[r] = changed = true;
        }
        return nullable;
    }

    /// <summary>Rules that rule r can call before consuming a byte.</summary>
    private static List<int> LeftCalls(CompiledGrammar g, int r, bool[] nullable)
    {
        var callees = new List<int>();
        var seen = new HashSet<int>();
        var stack = new Stack<int>([g.RuleStart[r]]);
        while (stack.Count > 0)
        {
            int s = stack.Pop();
            if (!seen.Add(s)) continue;
            for (int i = g.CallOffset[s]; i < g.CallOffset[s + 1]; i++)
            {
                callees.Add(g.CallRule[i]);
                if (nullable[g.CallRule[i]]) stack.Push(g.CallReturn[i]);
            }
        }
        return callees;
    }
}
