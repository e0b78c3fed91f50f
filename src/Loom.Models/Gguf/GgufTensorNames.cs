using System.Text.RegularExpressions;
using Loom.Models.Definition;

namespace Loom.Models.Gguf;

/// <summary>
/// Tensor names as llama.cpp writes them (token_embd.weight, blk.N.attn_q.weight, ...) and their Hugging Face
/// equivalents. Phi-3's fused gate_up_proj is llama.cpp's ffn_up, so the mapping depends on the architecture.
/// </summary>
public static partial class GgufTensorNames
{
    /// <summary>llama.cpp's per-dimension RoPE frequency divisors (written for llama3 rope scaling).</summary>
    public const string RopeFreqs = "rope_freqs.weight";

    private static readonly (string Hf, string Gguf)[] LayerParts =
    [
        (HfTensorNames.InputNorm, "attn_norm.weight"),
        (HfTensorNames.PostAttentionNorm, "ffn_norm.weight"),
        (HfTensorNames.QNorm, "attn_q_norm.weight"),
        (HfTensorNames.KNorm, "attn_k_norm.weight"),
        (HfTensorNames.QProj, "attn_q"),
        (HfTensorNames.KProj, "attn_k"),
        (HfTensorNames.VProj, "attn_v"),
        (HfTensorNames.OProj, "attn_output"),
        (HfTensorNames.QkvProj, "attn_qkv"),
        (HfTensorNames.GateProj, "ffn_gate"),
        (HfTensorNames.UpProj, "ffn_up"),
        (HfTensorNames.DownProj, "ffn_down"),
    ];

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(.+)$")]
    private static partial Regex HfLayer();

    [GeneratedRegex(@"^blk\.(\d+)\.(.+)$")]
    private static partial Regex GgufLayer();

    /// <summary>The llama.cpp name of a Hugging Face tensor name, or null if llama.cpp has none.</summary>
    public static string? ToGguf(string hfName, bool fusedGateUp)
    {
        switch (hfName)
        {
            case HfTensorNames.Embedding: return "token_embd.weight";
            case HfTensorNames.FinalNorm: return "output_norm.weight";
            case HfTensorNames.LmHead: return "output.weight";
        }
        var m = HfLayer().Match(hfName);
        if (!m.Success) return null;
        string part = m.Groups[2].Value;
        if (fusedGateUp && part.StartsWith(HfTensorNames.GateUpProj + ".", StringComparison.Ordinal))
            return $"blk.{m.Groups[1].Value}.ffn_up{part[HfTensorNames.GateUpProj.Length..]}";
        foreach (var (hf, gguf) in LayerParts)
        {
            if (part == hf) return $"blk.{m.Groups[1].Value}.{gguf}";
            if (part.StartsWith(hf + ".", StringComparison.Ordinal) && !hf.EndsWith(".weight", StringComparison.Ordinal))
                return $"blk.{m.Groups[1].Value}.{gguf}{part[hf.Length..]}";
        }
        return null;
    }

    /// <summary>The Hugging Face name of a llama.cpp tensor name, or null if it has none.</summary>
    public static string? ToHf(string ggufName, bool fusedGateUp)
    {
        switch (ggufName)
        {
            case "token_embd.weight": return HfTensorNames.Embedding;
            case "output_norm.weight": return HfTensorNames.FinalNorm;
            case "output.weight": return HfTensorNames.LmHead;
        }
        var m = GgufLayer().Match(ggufName);
        if (!m.Success) return null;
        string part = m.Groups[2].Value;
        if (fusedGateUp && part.StartsWith("ffn_up.", StringComparison.Ordinal))
            return HfTensorNames.Layer(int.Parse(m.Groups[1].Value), HfTensorNames.GateUpProj + part["ffn_up".Length..]);
        foreach (var (hf, gguf) in LayerParts)
        {
            if (part == gguf) return HfTensorNames.Layer(int.Parse(m.Groups[1].Value), hf);
            if (part.StartsWith(gguf + ".", StringComparison.Ordinal) && !gguf.EndsWith(".weight", StringComparison.Ordinal))
                return HfTensorNames.Layer(int.Parse(m.Groups[1].Value), hf + part[gguf.Length..]);
        }
        return null;
    }

    /// <summary>
    /// llama.cpp's converter permutes the rows of Llama's q/k projections from the Hugging Face rotate-half layout to
    /// interleaved pairs: stored row (h, j, half) holds Hugging Face row (h, half, j). True for the tensors this applies to.
    /// </summary>
    public static bool IsRopePermuted(string hfName, string ggufArchitecture) =>
        ggufArchitecture == "llama"
        && (hfName.EndsWith(HfTensorNames.QProj + ".weight", StringComparison.Ordinal) || hfName.EndsWith(HfTensorNames.QProj + ".bias", StringComparison.Ordinal)
            || hfName.EndsWith(HfTensorNames.KProj + ".weight", StringComparison.Ordinal) || hfName.EndsWith(HfTensorNames.KProj + ".bias", StringComparison.Ordinal));

    /// <summary>
    /// Moves whole rows between the Hugging Face and the llama.cpp layout of a q/k projection with
    /// <paramref name="heads"/> heads (rows = heads * headDim, each <paramref name="rowBytes"/> long).
    /// toGguf: HF row (h, half, j) goes to stored row (h, j, half); otherwise the inverse.
    /// </summary>
    public static void PermuteRows(ReadOnlySpan<byte> source, Span<byte> destination, int heads, long rowBytes, bool toGguf)
    {
        long rows = source.Length / rowBytes;
        if (rows % heads != 0 || rows / heads % 2 != 0 || destination.Length < source.Length)
            throw new ArgumentException($"Cannot permute {rows} rows as {heads} heads with an even head dimension.");
        int headDim = (int)(rows / heads), half = headDim / 2;
        for (int h = 0; h < heads; h++)
            for (int which = 0; which < 2; which++)
                for (int j = 0; j < half; j++)
                {
                    long hfRow = (long)h * headDim + which * half + j;
                    long ggufRow = (long)h * headDim + j * 2 + which;
                    long from = toGguf ? hfRow : ggufRow, to = toGguf ? ggufRow : hfRow;
                    source.Slice((int)(from * rowBytes), (int)rowBytes).CopyTo(destination.Slice((int)(to * rowBytes), (int)rowBytes));
                }
    }
}
