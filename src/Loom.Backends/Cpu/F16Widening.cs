namespace Loom.Backends.Cpu;

/// <summary>
/// Whether the CPU backend keeps an fp32 copy of F16 layer weights for batches of many tokens (prompt chunks, large
/// decode batches). Without AVX-512, .NET exposes no F16C conversion, so the batched F16 kernel otherwise widens a
/// panel of halves in software for every tile of tokens; the copy costs twice the F16 bytes in memory and gives the
/// same bits. Decode of a few tokens keeps streaming the halves. With AVX-512 the tile widens halves in registers,
/// but its three integer instructions per sixteen weights still cost: the tile reads the copy from
/// <see cref="Kernels.InterleavedHalfGemm.WidenedMinTokens"/> tokens on (measured 1.13–1.2× at 128 tokens on Zen 4).
/// </summary>
public enum F16Widening
{
    /// <summary>Make the copy when it fits in a quarter of the memory available at load.</summary>
    Auto,
    /// <summary>Always make it (where the batched kernel reads it).</summary>
    Always,
    /// <summary>Never: F16 weights are held once.</summary>
    Never,
}
