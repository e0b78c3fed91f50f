using Loom.Models.Gguf;

namespace Loom.Models.Tests.Gguf;

public class GgufNamesAndQuantsTests
{
    [Theory]
    [InlineData("model.embed_tokens.weight", "token_embd.weight", false)]
    [InlineData("model.norm.weight", "output_norm.weight", false)]
    [InlineData("lm_head.weight", "output.weight", false)]
    [InlineData("model.layers.3.input_layernorm.weight", "blk.3.attn_norm.weight", false)]
    [InlineData("model.layers.0.self_attn.q_proj.bias", "blk.0.attn_q.bias", false)]
    [InlineData("model.layers.11.self_attn.o_proj.weight", "blk.11.attn_output.weight", false)]
    [InlineData("model.layers.1.self_attn.k_norm.weight", "blk.1.attn_k_norm.weight", false)]
    [InlineData("model.layers.1.self_attn.qkv_proj.weight", "blk.1.attn_qkv.weight", true)]
    [InlineData("model.layers.1.mlp.gate_up_proj.weight", "blk.1.ffn_up.weight", true)]
    [InlineData("model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight", false)]
    [InlineData("model.layers.2.post_attention_layernorm.weight", "blk.2.ffn_norm.weight", false)]
    public void NamesMapBothWays(string hf, string gguf, bool fused)
    {
        Assert.Equal(gguf, GgufTensorNames.ToGguf(hf, fused));
        Assert.Equal(hf, GgufTensorNames.ToHf(gguf, fused));
    }

    [Fact]
    public void PermutationMatchesLlamaCppAndInverts()
    {
        // 2 heads of dim 4: HF rows (h, half, j) -> stored rows (h, j, half), i.e. per head [0,2,1,3].
        byte[] rows = [0, 1, 2, 3, 4, 5, 6, 7];
        var permuted = new byte[8];
        GgufTensorNames.PermuteRows(rows, permuted, heads: 2, rowBytes: 1, toGguf: true);
        Assert.Equal([0, 2, 1, 3, 4, 6, 5, 7], permuted);
        var back = new byte[8];
        GgufTensorNames.PermuteRows(permuted, back, heads: 2, rowBytes: 1, toGguf: false);
        Assert.Equal(rows, back);
    }

    [Fact]
    public void Q8_0AndQ4_0QuantizeWithinTheirStep()
    {
        var rng = new Random(3);
        var x = new float[32 * 64];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * (1 + i / 32 % 5);
        var q8 = new byte[x.Length / 32 * 34];
        var q4 = new byte[x.Length / 32 * 18];
        GgmlQuants.QuantizeQ8_0(x, q8);
        GgmlQuants.QuantizeQ4_0(x, q4);
        var y8 = new float[x.Length];
        var y4 = new float[x.Length];
        GgmlQuants.DequantizeQ8_0(q8, y8);
        GgmlQuants.DequantizeQ4_0(q4, y4);
        for (int b = 0; b < x.Length / 32; b++)
        {
            float amax = x.AsSpan(b * 32, 32).ToArray().Max(Math.Abs);
            for (int j = b * 32; j < b * 32 + 32; j++)
            {
                Assert.InRange(Math.Abs(x[j] - y8[j]), 0, amax / 127 * 0.51 + 1e-3 * amax);
                // Q4_0 maps the largest magnitude to -8, so the opposite sign clips at +7: up to one step of error there.
                Assert.InRange(Math.Abs(x[j] - y4[j]), 0, amax / 8 * 1.01 + 1e-3 * amax);
            }
        }
    }

    [Fact]
    public void Q4_0KeepsTheLargestMagnitudeExactlyAtMinusEight()
    {
        var x = new float[32];
        x[5] = -3f;
        x[9] = 1.5f;
        var q = new byte[18];
        GgmlQuants.QuantizeQ4_0(x, q);
        var y = new float[32];
        GgmlQuants.DequantizeQ4_0(q, y);
        Assert.Equal(-3f, y[5]);
        Assert.Equal(1.5f, y[9], 0.2f);
        Assert.Equal(0f, y[0]);
    }

    /// <summary>Q4_K / Q6_K decoding of hand-built blocks whose values follow from the layout description.</summary>
    [Fact]
    public void KQuantsDecodeHandBuiltBlocks()
    {
        var q4k = new byte[144];
        WriteHalf(q4k, 0, 0.5f);   // d
        WriteHalf(q4k, 2, 0.25f);  // dmin
        q4k[4 + 0] = 3;            // sub-block 0 scale 3
        q4k[4 + 4] = 2;            // sub-block 0 min 2
        q4k[4 + 8] = 0x15;         // sub-block 4: scale low bits 5, min low bits 1
        q4k[16 + 0] = 0x97;        // first byte: value 0 = 7 (sub-block 0), value 32 = 9 (sub-block 1)
        q4k[16 + 64] = 0x0A;       // value 128 = 10 (sub-block 4)
        var y = new float[256];
        GgmlQuants.DequantizeQ4_K(q4k, y);
        Assert.Equal(0.5f * 3 * 7 - 0.25f * 2, y[0]);
        Assert.Equal(0.5f * 3 * 0 - 0.25f * 2, y[1]);
        Assert.Equal(0f, y[32]); // sub-block 1 has scale 0 and min 0
        Assert.Equal(0.5f * 5 * 10 - 0.25f * 1, y[128]);

        var q6k = new byte[210];
        q6k[0] = 0x21;             // ql[0]: low nibble 1 (value 0), high nibble 2 (value 64)
        q6k[128] = 0b10_00_00_11;  // qh[0]: bits 0-1 = 3 for value 0, bits 6-7 = 2 for value 96
        q6k[192 + 0] = 2;          // scale of values 0..15
        q6k[192 + 4] = unchecked((byte)-1); // scale of values 64..79
        q6k[192 + 6] = 4;          // scale of values 96..111
        WriteHalf(q6k, 208, 0.125f);
        GgmlQuants.DequantizeQ6_K(q6k, y);
        Assert.Equal(0.125f * 2 * ((1 | 3 << 4) - 32), y[0]);
        Assert.Equal(0.125f * -1 * (2 - 32), y[64]);
        Assert.Equal(0.125f * 4 * ((0 | 2 << 4) - 32), y[96]);
        Assert.Equal(0.125f * 2 * -32, y[1]);
    }

    /// <summary>Q5_K, and the 32-value types llama-quantize falls back to, decoding hand-built blocks per ggml's block layouts.</summary>
    [Fact]
    public void Q5KAndFallbackTypesDecodeHandBuiltBlocks()
    {
        var y = new float[256];
        var q5k = new byte[176];
        WriteHalf(q5k, 0, 0.5f);       // d
        WriteHalf(q5k, 2, 0.25f);      // dmin
        q5k[4 + 1] = 3;                // sub-block 1 scale 3
        q5k[4 + 5] = 2;                // sub-block 1 min 2
        q5k[16 + 0] = 0b10;            // qh[0] bit 1: value 32 (sub-block 1) gets +16
        q5k[48 + 0] = 0x70;            // qs[0] high nibble 7: value 32
        GgmlQuants.DequantizeQ5_K(q5k, y);
        Assert.Equal(0.5f * 3 * (7 + 16) - 0.25f * 2, y[32]);
        Assert.Equal(0.5f * 3 * 0 - 0.25f * 2, y[33]);
        Assert.Equal(0f, y[0]);

        var q41 = new byte[20];
        WriteHalf(q41, 0, 0.5f);
        WriteHalf(q41, 2, -1f);        // min
        q41[4 + 3] = 0xA6;             // value 3 = 6, value 19 = 10
        GgmlQuants.DequantizeQ4_1(q41, y);
        Assert.Equal(6 * 0.5f - 1f, y[3]);
        Assert.Equal(10 * 0.5f - 1f, y[19]);
        Assert.Equal(-1f, y[0]);

        var q50 = new byte[22];
        WriteHalf(q50, 0, 0.25f);
        q50[2 + 2] = 0b1;              // qh bit 16: value 16 gets its fifth bit
        q50[6 + 0] = 0x35;             // value 0 = 5, value 16 = 3 | 16
        GgmlQuants.DequantizeQ5_0(q50, y);
        Assert.Equal((5 - 16) * 0.25f, y[0]);
        Assert.Equal((19 - 16) * 0.25f, y[16]);

        var q51 = new byte[24];
        WriteHalf(q51, 0, 2f);
        WriteHalf(q51, 2, 0.5f);
        q51[4 + 0] = 0b10;             // qh bit 1: value 1 gets its fifth bit
        q51[8 + 1] = 0x0F;             // value 1 = 15 | 16
        GgmlQuants.DequantizeQ5_1(q51, y);
        Assert.Equal(31 * 2f + 0.5f, y[1]);
        Assert.Equal(0.5f, y[0]);

        var iq4 = new byte[18];
        WriteHalf(iq4, 0, 0.5f);
        iq4[2 + 0] = 0xF0;             // value 0 = level 0 (-127), value 16 = level 15 (113)
        GgmlQuants.DequantizeIQ4_NL(iq4, y);
        Assert.Equal(-127 * 0.5f, y[0]);
        Assert.Equal(113 * 0.5f, y[16]);
        Assert.Equal(-127 * 0.5f, y[1]);
    }

    private static void WriteHalf(byte[] b, int offset, float v)
    {
        ushort bits = BitConverter.HalfToUInt16Bits((Half)v);
        b[offset] = (byte)bits;
        b[offset + 1] = (byte)(bits >> 8);
    }
}
