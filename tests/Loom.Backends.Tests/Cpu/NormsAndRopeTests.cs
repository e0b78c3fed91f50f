using Loom.Backends.Cpu.Kernels;
using Loom.Models.Config;

namespace Loom.Backends.Tests.Cpu;

public class NormsAndRopeTests
{
    [Fact]
    public void RmsNorm_MatchesDefinition()
    {
        var x = TestTensors.Random(96, 1, 3f);
        var w = TestTensors.Random(96, 2);
        var y = new float[96];

        Norms.RmsNorm(x, w, 1e-5f, y);

        double ms = x.Sum(v => (double)v * v) / x.Length;
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(x[i] / Math.Sqrt(ms + 1e-5) * w[i], y[i], 5);
    }

    [Fact]
    public void SiluMul_MatchesDefinition()
    {
        var gate = TestTensors.Random(40, 3, 6f);
        var up = TestTensors.Random(40, 4);
        var expected = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();

        Norms.SiluMulInPlace(gate, up);

        for (int i = 0; i < gate.Length; i++) Assert.Equal(expected[i], gate[i], 5);
    }

    [Fact]
    public void Rope_RotatesPairsIAndIPlusHalf()
    {
        var config = Config(headDim: 8, theta: 10000);
        var rope = new RopeTable(config, 16);
        var row = TestTensors.Random(2 * 8, 5); // two heads
        var original = row.ToArray();

        rope.Apply(row, numHeads: 2, position: 7);

        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 4; i++)
            {
                double angle = 7 * (1.0 / Math.Pow(10000, 2.0 * i / 8));
                double a = original[h * 8 + i], b = original[h * 8 + i + 4];
                Assert.Equal(a * Math.Cos(angle) - b * Math.Sin(angle), row[h * 8 + i], 5);
                Assert.Equal(b * Math.Cos(angle) + a * Math.Sin(angle), row[h * 8 + i + 4], 5);
            }
    }

    [Fact]
    public void Rope_TableGrowsForPositionsPastItsEnd()
    {
        var rope = new RopeTable(Config(headDim: 4, theta: 10000), 2);
        var row = new float[] { 1, 0, 0, 0 };

        rope.EnsurePositions(100);
        rope.Apply(row, 1, 99);

        Assert.True(rope.NumPositions >= 100);
        Assert.Equal(Math.Cos(99.0), row[0], 5);
        Assert.Equal(Math.Sin(99.0), row[2], 5);
    }

    [Fact]
    public void Rope_LinearScaling_DividesEveryFrequency()
    {
        var plain = RopeTable.InverseFrequencies(Config(16, 10000));
        var scaled = RopeTable.InverseFrequencies(Config(16, 10000) with { RopeScaling = new RopeScaling("linear", Factor: 4) });
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i] / 4, scaled[i], 6);
    }

    [Fact]
    public void Rope_Llama3Scaling_KeepsHighFrequencies_DividesLowOnes_BlendsBetween()
    {
        // Wavelengths of head_dim 64 / theta 500000 span 6 .. ~2.6e6 positions; with original context 128 and
        // factors 1 / 4, wavelengths below 32 are kept, above 128 divided by 8, and those between interpolated.
        var config = Config(64, 500000) with
        {
            RopeScaling = new RopeScaling("llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 128),
        };
        var plain = RopeTable.InverseFrequencies(Config(64, 500000));
        var scaled = RopeTable.InverseFrequencies(config);

        int kept = 0, divided = 0, blended = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            double wavelen = 2 * Math.PI / plain[i];
            if (wavelen < 32) { Assert.Equal(plain[i], scaled[i], 6); kept++; }
            else if (wavelen > 128) { Assert.Equal(plain[i] / 8, scaled[i], 6); divided++; }
            else
            {
                double smooth = (128 / wavelen - 1) / (4 - 1);
                Assert.Equal((1 - smooth) * plain[i] / 8 + smooth * plain[i], scaled[i], 5);
                blended++;
            }
        }
        Assert.True(kept > 0 && divided > 0 && blended > 0, $"kept {kept}, divided {divided}, blended {blended}");
    }

    [Fact]
    public void Rope_UnknownScalingType_IsRejectedByName()
    {
        var config = Config(8, 10000) with { RopeScaling = new RopeScaling("yarn", Factor: 2) };
        var e = Assert.Throws<NotSupportedException>(() => RopeTable.InverseFrequencies(config));
        Assert.Contains("yarn", e.Message);
    }

    internal static ModelConfig Config(int headDim, double theta) => new()
    {
        Architecture = "LlamaForCausalLM",
        ModelType = "llama",
        VocabSize = 10,
        HiddenSize = headDim * 2,
        IntermediateSize = 8,
        NumHiddenLayers = 1,
        NumAttentionHeads = 2,
        NumKeyValueHeads = 1,
        HeadDim = headDim,
        RopeTheta = theta,
    };
}

public class RopeCheckpointDtypeTests
{
    [Theory]
    [InlineData("bfloat16")]
    [InlineData("float16")]
    public void InverseFrequencies_AreRoundedToTheCheckpointDtype_AsTransformersBuffersAre(string dtype)
    {
        var config = NormsAndRopeTests.Config(64, 1000000) with { TorchDtype = dtype };
        var exact = RopeTable.InverseFrequencies(NormsAndRopeTests.Config(64, 1000000));
        var rounded = RopeTable.InverseFrequencies(config);

        for (int i = 0; i < exact.Length; i++)
        {
            float expected = dtype == "float16" ? (float)(Half)exact[i] : (float)(BFloat16Round(exact[i]));
            Assert.Equal(expected, rounded[i]);
        }
        Assert.NotEqual(exact, rounded);
    }

    private static float BFloat16Round(float v)
    {
        // Nearest bf16 by comparing the two neighbours (independent of the bit trick under test).
        uint bits = BitConverter.SingleToUInt32Bits(v);
        float down = BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
        float up = BitConverter.UInt32BitsToSingle((bits & 0xFFFF0000u) + 0x10000u);
        double dd = v - (double)down, du = up - (double)v;
        if (dd != du) return dd < du ? down : up;
        return ((BitConverter.SingleToUInt32Bits(down) >> 16) & 1) == 0 ? down : up;
    }
}
