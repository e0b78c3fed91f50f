namespace Loom.Backends.Cpu;

/// <summary>
/// Whether the CPU backend keeps an fp32 copy of F16 layer weights for batches of many tokens (prompt chunks, large
/// decode batches). Without AVX-512, .NET exposes no F16C conversion, so the batched F16 kernel otherwise widens a
/// panel of halves in software for every tile of tokens; the copy costs twice the F16 bytes in memory and gives the
/// same bits. Decode of a few tokens keeps streaming the halves. Machines with AVX-512 widen in the tile and never
/// read the copy, so it is not made there.
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
