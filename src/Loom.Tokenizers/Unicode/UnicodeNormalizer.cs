using System.Text;

namespace Loom.Tokenizers.Unicode;

/// <summary>
/// NFC/NFD/NFKC/NFKD over the tables in <see cref="UnicodeNormalizationData"/>. string.Normalize cannot be used:
/// under InvariantGlobalization (our build policy) it returns non-ASCII text unchanged.
/// </summary>
internal static class UnicodeNormalizer
{
    private const int HangulSBase = 0xAC00, HangulLBase = 0x1100, HangulVBase = 0x1161, HangulTBase = 0x11A7;
    private const int HangulLCount = 19, HangulVCount = 21, HangulTCount = 28;
    private const int HangulNCount = HangulVCount * HangulTCount, HangulSCount = HangulLCount * HangulNCount;

    private static readonly Lazy<Tables> LazyTables = new(Tables.Build);

    public static string Normalize(string text, NormalizationForm form)
    {
        bool compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;
        bool compat = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        if (IsTriviallyNormalized(text, compose, compat)) return text;

        var tables = LazyTables.Value;
        var codePoints = new List<int>(text.Length + 8);
        foreach (var rune in text.EnumerateRunes()) Decompose(rune.Value, compat, tables, codePoints);
        SortCombiningMarks(codePoints, tables);
        if (compose) Compose(codePoints, tables);

        var sb = new StringBuilder(codePoints.Count + 4);
        foreach (int cp in codePoints) sb.Append(new Rune(cp).ToString());
        return sb.ToString();
    }

    /// <summary>Below U+00A0 nothing decomposes; below U+0300 nothing composes and Latin-1 is already composed.</summary>
    private static bool IsTriviallyNormalized(string text, bool compose, bool compat)
    {
        int limit = compose && !compat ? 0x300 : 0xA0;
        foreach (char c in text) if (c >= limit) return false;
        return true;
    }

    private static void Decompose(int cp, bool compat, Tables tables, List<int> output)
    {
        if (cp is >= HangulSBase and < HangulSBase + HangulSCount)
        {
            int s = cp - HangulSBase;
            output.Add(HangulLBase + s / HangulNCount);
            output.Add(HangulVBase + s % HangulNCount / HangulTCount);
            if (s % HangulTCount != 0) output.Add(HangulTBase + s % HangulTCount);
            return;
        }
        if (tables.Decompositions.TryGetValue(cp, out var mapping) && (compat || !mapping.IsCompatibility))
        {
            foreach (int part in mapping.CodePoints) Decompose(part, compat, tables, output);
            return;
        }
        output.Add(cp);
    }

    /// <summary>Canonical ordering: a stable sort of each run of non-starters by combining class.</summary>
    private static void SortCombiningMarks(List<int> cps, Tables tables)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            int cls = tables.CombiningClass(cps[i]);
            if (cls == 0) continue;
            for (int j = i; j > 0; j--)
            {
                int prevCls = tables.CombiningClass(cps[j - 1]);
                if (prevCls == 0 || prevCls <= cls) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
    }

    private static void Compose(List<int> cps, Tables tables)
    {
        if (cps.Count == 0) return;
        int starterPos = 0;
        int lastClass = tables.CombiningClass(cps[0]) == 0 ? 0 : 256;
        int writePos = 1;
        for (int readPos = 1; readPos < cps.Count; readPos++)
        {
            int ch = cps[readPos];
            int chClass = tables.CombiningClass(ch);
            int composite = lastClass != 256 ? tables.ComposePair(cps[starterPos], ch) : -1;
            bool blocked = lastClass != 0 && lastClass >= chClass;
            if (composite >= 0 && !blocked)
            {
                cps[starterPos] = composite;
                continue;
            }
            if (chClass == 0) starterPos = writePos;
            lastClass = chClass;
            cps[writePos++] = ch;
        }
        cps.RemoveRange(writePos, cps.Count - writePos);
    }

    private readonly record struct Mapping(int[] CodePoints, bool IsCompatibility);

    private sealed class Tables
    {
        public required Dictionary<int, byte> CombiningClasses { get; init; }
        public required Dictionary<int, Mapping> Decompositions { get; init; }
        public required Dictionary<long, int> Compositions { get; init; }

        public int CombiningClass(int cp) => cp < 0x300 ? 0 : CombiningClasses.GetValueOrDefault(cp);

        public int ComposePair(int first, int second)
        {
            int l = first - HangulLBase, v = second - HangulVBase;
            if (l is >= 0 and < HangulLCount && v is >= 0 and < HangulVCount)
                return HangulSBase + (l * HangulVCount + v) * HangulTCount;
            int s = first - HangulSBase, t = second - HangulTBase;
            if (s is >= 0 and < HangulSCount && s % HangulTCount == 0 && t is > 0 and < HangulTCount)
                return first + t;
            return Compositions.TryGetValue(((long)first << 32) | (uint)second, out int c) ? c : -1;
        }

        public static Tables Build()
        {
            var ccc = new Dictionary<int, byte>();
            var data = UnicodeNormalizationData.CombiningClasses;
            for (int i = 0; i < data.Length; i += 2) ccc[data[i]] = (byte)data[i + 1];

            var decompositions = new Dictionary<int, Mapping>();
            var d = UnicodeNormalizationData.Decompositions;
            for (int i = 0; i < d.Length;)
            {
                int cp = d[i], len = d[i + 1] & 0xFF;
                bool compat = (d[i + 1] & 0x100) != 0;
                decompositions[cp] = new Mapping(d.Slice(i + 2, len).ToArray(), compat);
                i += 2 + len;
            }

            var compositions = new Dictionary<long, int>();
            var c = UnicodeNormalizationData.Compositions;
            for (int i = 0; i < c.Length; i += 3) compositions[((long)c[i] << 32) | (uint)c[i + 1]] = c[i + 2];
            return new Tables { CombiningClasses = ccc, Decompositions = decompositions, Compositions = compositions };
        }
    }
}
