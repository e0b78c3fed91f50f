namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// The loop order both interleaved GEMMs share (<see cref="InterleavedGemm"/>, <see cref="InterleavedSuperBlockGemm"/>):
/// tiles of tokens whose activations stay in L2, then each group of eight rows in the range, eight tokens at a time,
/// then four, then single tokens; without AVX2 the kernels' scalar equivalent per (row, token).
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
        int tileTokens = (int)Math.Clamp(InputTileBytes / n, 8, int.MaxValue) & ~7;
        for (int tile = 0; tile < numTokens; tile += tileTokens)
        {
            int tileEnd = Math.Min(numTokens, tile + tileTokens);
            for (int g = rowStart / G; g * G < rowEnd; g++)
            {
                int first = Math.Max(rowStart - g * G, 0), last = Math.Min(rowEnd - g * G, G);
                float* yg = y + g * G;
                int t = tile;
                if (QuantizedGemm.UseAvx2)
                {
                    for (; t + 8 <= tileEnd; t += 8) kernels.Tokens8(g, t, yg + (long)t * yStride, yStride, first, last);
                    for (; t + 4 <= tileEnd; t += 4) kernels.Tokens4(g, t, yg + (long)t * yStride, yStride, first, last);
                    for (; t < tileEnd; t++) kernels.Token1(g, t, yg + (long)t * yStride, first, last);
                }
                else
                {
                    for (; t < tileEnd; t++)
                        for (int r = first; r < last; r++) yg[(long)t * yStride + r] = kernels.Scalar(g, r, t);
                }
            }
        }
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
