namespace Loom.Grammar.Compile;

/// <summary>
/// Splits a range of scalar values into sequences of byte ranges whose concatenations are exactly the UTF-8
/// encodings of that range (the algorithm of RE2 and Rust's regex-syntax).
/// </summary>
internal static class Utf8Ranges
{
    public static List<(byte Lo, byte Hi)[]> Sequences(int lo, int hi)
    {
        var result = new List<(byte, byte)[]>();
        Split(lo, hi, result);
        return result;
    }

    private static readonly int[] LengthLimits = [0x7F, 0x7FF, 0xFFFF, 0x10FFFF];

    private static void Split(int lo, int hi, List<(byte, byte)[]> result)
    {
        if (lo > hi) return;
        if (lo <= 0xDFFF && hi >= 0xD800)
        {
            Split(lo, 0xD7FF, result);
            Split(0xE000, hi, result);
            return;
        }
        foreach (int limit in LengthLimits)
        {
            if (lo <= limit && hi > limit)
            {
                Split(lo, limit, result);
                Split(limit + 1, hi, result);
                return;
            }
        }
        int n = Length(lo);
        for (int i = 1; i < n; i++)
        {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m))
            {
                if ((lo & m) != 0)
                {
                    Split(lo, lo | m, result);
                    Split((lo | m) + 1, hi, result);
                    return;
                }
                if ((hi & m) != m)
                {
                    Split(lo, (hi & ~m) - 1, result);
                    Split(hi & ~m, hi, result);
                    return;
                }
            }
        }
        byte[] a = Encode(lo), b = Encode(hi);
        var seq = new (byte, byte)[n];
        for (int i = 0; i < n; i++) seq[i] = (a[i], b[i]);
        result.Add(seq);
    }

    private static int Length(int cp) => cp <= 0x7F ? 1 : cp <= 0x7FF ? 2 : cp <= 0xFFFF ? 3 : 4;

    private static byte[] Encode(int cp) => System.Text.Encoding.UTF8.GetBytes(char.ConvertFromUtf32(cp));
}
