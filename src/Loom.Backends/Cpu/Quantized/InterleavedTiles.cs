namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// The loop order both interleaved GEMMs share (<see cref="InterleavedGemm"/>, <see cref="InterleavedSuperBlockGemm"/>):
/// tiles of tokens whose activations stay in L2, then each group of eight rows in the range, eight tokens at a time,
/// then four, then single tokens; without AVX2 the kernels' scalar equivalent per (row, token). With the 512-bit
/// kernels (<see cref="RunPairs"/>) two groups at a time where a pair is whole.
/// </summary>
internal static unsafe class InterleavedTiles
{
    private const int G = InterleavedWeights.GroupRows;

    /// <summary>Activation bytes per token tile (a quarter of a typical 1 MB L2), as in <see cref="QuantizedGemm"/>.</summary>
    private const long InputTileBytes = 256 * 1024;

    /// <summary>Output columns [rowStart, rowEnd) of y ([numTokens, yStride]) for every token; n: input features (one byte each, quantized).</summary>
    public static void Run<TKernels>(TKernels kernels, int n, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
        where TKernels : struct, IGroupKernels
    {
        int tileTokens = TileTokens(n);
        for (int tile = 0; tile < numTokens; tile += tileTokens)
        {
            int tileEnd = Math.Min(numTokens, tile + tileTokens);
            for (int g = rowStart / G; g * G < rowEnd; g++)
            {
                if (QuantizedGemm.UseAvx2)
                {
                    Group(kernels, g, tile, tileEnd, y, yStride, rowStart, rowEnd);
                    continue;
                }
                int first = Math.Max(rowStart - g * G, 0), last = Math.Min(rowEnd - g * G, G);
                float* yg = y + g * G;
                for (int t = tile; t < tileEnd; t++)
                    for (int r = first; r < last; r++) yg[(long)t * yStride + r] = kernels.Scalar(g, r, t);
            }
        }
    }

    /// <summary>
    /// <see cref="Run"/> with the 512-bit kernels (the caller checks AVX-512): groups g and g + 1 side by side, eight,
    /// then four, then single tokens at a time (lanes 0–7 group g, 8–15 group g + 1); a lone last group goes through
    /// the 256-bit kernels as in <see cref="Run"/>. Whether a pair's four- and one-token shapes are 512-bit is the
    /// kernels' choice (<see cref="IGroupPairKernels"/>). Every kernel does the same computation per (row, token), so
    /// the outputs are the same bits whichever kernel or pairing computed them.
    /// </summary>
    public static void RunPairs<TKernels>(TKernels kernels, int n, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
        where TKernels : struct, IGroupPairKernels
    {
        int tileTokens = TileTokens(n);
        int groupEnd = (rowEnd + G - 1) / G;
        for (int tile = 0; tile < numTokens; tile += tileTokens)
        {
            int tileEnd = Math.Min(numTokens, tile + tileTokens);
            int g = rowStart / G;
            for (; g + 2 <= groupEnd; g += 2)
            {
                // Only the pair's first group can start inside it and only its second end inside it: one lane range.
                int first = Math.Max(rowStart - g * G, 0), last = Math.Min(rowEnd - g * G, 2 * G);
                float* yg = y + g * G;
                int t = tile;
                for (; t + 8 <= tileEnd; t += 8) kernels.Tokens8Pair(g, t, yg + (long)t * yStride, yStride, first, last);
                for (; t + 4 <= tileEnd; t += 4) kernels.Tokens4Pair(g, t, yg + (long)t * yStride, yStride, first, last);
                for (; t < tileEnd; t++) kernels.Token1Pair(g, t, yg + (long)t * yStride, first, last);
            }
            if (g < groupEnd) Group(kernels, g, tile, tileEnd, y, yStride, rowStart, rowEnd);
        }
    }

    /// <summary>Tokens per tile: as many as keep <see cref="InputTileBytes"/> of activations, a multiple of eight.</summary>
    private static int TileTokens(int n) => (int)Math.Clamp(InputTileBytes / n, 8, int.MaxValue) & ~7;

    /// <summary>Tokens [t, tileEnd) of group g with the 256-bit kernels: eight at a time, then four, then one.</summary>
    private static void Group<TKernels>(TKernels kernels, int g, int t, int tileEnd, float* y, int yStride, int rowStart, int rowEnd)
        where TKernels : struct, IGroupKernels
    {
        int first = Math.Max(rowStart - g * G, 0), last = Math.Min(rowEnd - g * G, G);
        float* yg = y + g * G;
        for (; t + 8 <= tileEnd; t += 8) kernels.Tokens8(g, t, yg + (long)t * yStride, yStride, first, last);
        for (; t + 4 <= tileEnd; t += 4) kernels.Tokens4(g, t, yg + (long)t * yStride, yStride, first, last);
        for (; t < tileEnd; t++) kernels.Token1(g, t, yg + (long)t * yStride, first, last);
    }
}

/// <summary>One weight type's kernels over one group of eight rows, bound to its weights and activations.</summary>
internal unsafe interface IGroupKernels
{
    /// <summary>Tokens t..t+7 of group g into y (token i at y + i * yStride), lanes [first, last).</summary>
    void Tokens8(int g, int t, float* y, int yStride, int first, int last);

    /// <summary>Tokens t..t+3 of group g into y (token i at y + i * yStride), lanes [first, last).</summary>
    void Tokens4(int g, int t, float* y, int yStride, int first, int last);

    /// <summary>Token t of group g into y, lanes [first, last).</summary>
    void Token1(int g, int t, float* y, int first, int last);

    /// <summary>Row r of group g for token t, the same bits as the vector kernels, in scalar code.</summary>
    float Scalar(int g, int r, int t);
}

/// <summary>Kernels that also compute two groups at once (AVX-512), for <see cref="InterleavedTiles.RunPairs"/>.</summary>
internal unsafe interface IGroupPairKernels : IGroupKernels
{
    /// <summary>Tokens t..t+7 of groups g and g + 1 into y (token i at y + i * yStride, group g + 1 at y + 8), lanes [first, last) of 16.</summary>
    void Tokens8Pair(int g, int t, float* y, int yStride, int first, int last);

    /// <summary>Tokens t..t+3 of groups g and g + 1, as <see cref="Tokens8Pair"/> (a 512-bit kernel, or each group's 256-bit one where that measured faster).</summary>
    void Tokens4Pair(int g, int t, float* y, int yStride, int first, int last);

    /// <summary>Token t of groups g and g + 1 into y, lanes [first, last) of 16 (as <see cref="Tokens4Pair"/>).</summary>
    void Token1Pair(int g, int t, float* y, int first, int last);
}
