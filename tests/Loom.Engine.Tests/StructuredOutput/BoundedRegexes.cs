namespace Loom.Engine.Tests.StructuredOutput;

/// <summary>A regex and the most bytes any string it matches can take.</summary>
internal sealed record BoundedRegex(string Pattern, int MaxBytes);

/// <summary>
/// Random regexes in the subset vLLM's guided_regex and .NET agree on (literals, classes, \d \w \s, groups with
/// alternation, ?, {m} and {m,n}), with no unbounded repetition, so every match has at most
/// <see cref="BoundedRegex.MaxBytes"/> bytes. Every atom matches ASCII only, one byte a character.
/// </summary>
internal sealed class BoundedRegexes(Random rng)
{
    private static readonly string[] Atoms = ["a", "b", "z", "0", "7", "-", "_", "\\.", "[a-f]", "[xyz0-3]", "[A-C_]", "\\d", "\\w", "\\s"];

    public BoundedRegex Generate() => Sequence(depth: 0);

    private BoundedRegex Sequence(int depth)
    {
        int n = 1 + rng.Next(3);
        var parts = Enumerable.Range(0, n).Select(_ => Quantified(depth)).ToList();
        return new BoundedRegex(string.Concat(parts.Select(p => p.Pattern)), parts.Sum(p => p.MaxBytes));
    }

    private BoundedRegex Quantified(int depth)
    {
        var atom = depth < 2 && rng.Next(4) == 0 ? Group(depth + 1) : new BoundedRegex(Atoms[rng.Next(Atoms.Length)], 1);
        int lo = rng.Next(3), hi = lo + rng.Next(3);
        return rng.Next(4) switch
        {
            0 => atom,
            1 => atom with { Pattern = atom.Pattern + "?" },
            2 => new BoundedRegex($"{atom.Pattern}{{{Math.Max(1, lo)}}}", atom.MaxBytes * Math.Max(1, lo)),
            _ => new BoundedRegex($"{atom.Pattern}{{{lo},{Math.Max(1, hi)}}}", atom.MaxBytes * Math.Max(1, hi)),
        };
    }

    private BoundedRegex Group(int depth)
    {
        var branches = Enumerable.Range(0, 2 + rng.Next(2)).Select(_ => Sequence(depth)).ToList();
        string open = rng.Next(2) == 0 ? "(" : "(?:";
        return new BoundedRegex(open + string.Join('|', branches.Select(b => b.Pattern)) + ")", branches.Max(b => b.MaxBytes));
    }
}
