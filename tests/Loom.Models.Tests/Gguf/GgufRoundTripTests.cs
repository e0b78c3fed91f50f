using Loom.Models.Config;
using Loom.Models.Definition;
using Loom.Models.Gguf;
using Loom.Models.Tests.Checkpoints;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Models.Tests.Gguf;

public class GgufRoundTripTests
{
    public static TheoryData<string> Models => new()
    {
        "llama-gqa", "llama3-ropescaled", "mistral-slidingwindow", "phi3-fused", "qwen2-bias-tied", "qwen3-qknorm", "demo",
    };

    private static string ModelDir(string name) => name == "demo" ? RepoPaths.DemoModel : RepoPaths.FixtureModel(name);

    /// <summary>Export to GGUF F32 and read back: same config, and every tensor holds the same values (q/k un-permuted).</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void F32ExportReadsBackIdentically(string model)
    {
        string dir = ModelDir(model);
        var config = ModelConfigLoader.Load(dir);
        using var temp = new TestSafetensors.TempDir();
        string path = temp.File("model.gguf");
        using (var weights = SafetensorsWeightSource.Open(dir))
            GgufExporter.Export(weights, config, path, GgmlType.F32);

        using var gguf = GgufWeightSource.Open(path);
        using var original = SafetensorsWeightSource.Open(dir);
        Assert.Equal(config with { EosTokenIds = [] }, gguf.Config with { EosTokenIds = [] });
        Assert.Equal(config.EosTokenIds, gguf.Config.EosTokenIds);
        ModelDefinition.For(config).Validate(gguf);
        foreach (var (name, t) in original.Tensors)
        {
            var g = gguf.Get(name);
            Assert.Equal(DType.F32, g.DType);
            Assert.Equal(t.Shape, g.Shape);
            Assert.Equal(Floats(t), Floats(g));
        }
    }

    [Theory]
    [InlineData(GgmlType.F16, DType.F16, 1e-3)]
    [InlineData(GgmlType.BF16, DType.BF16, 8e-3)]
    [InlineData(GgmlType.Q8_0, DType.Q8_0, 1e-2)]
    [InlineData(GgmlType.Q4_0, DType.Q4_0, 0.2)]
    public void LowerPrecisionExportsStayClose(GgmlType type, DType expected, double relativeTolerance)
    {
        string dir = RepoPaths.FixtureModel("llama3-ropescaled");
        var config = ModelConfigLoader.Load(dir);
        using var temp = new TestSafetensors.TempDir();
        string path = temp.File("model.gguf");
        using var original = SafetensorsWeightSource.Open(dir);
        GgufExporter.Export(original, config, path, type);
        using var gguf = GgufWeightSource.Open(path);
        Assert.Equal(config.RopeScaling, gguf.Config.RopeScaling);
        foreach (var (name, t) in original.Tensors)
        {
            var g = gguf.Get(name);
            Assert.Equal(t.Shape.Length == 1 ? DType.F32 : expected, g.DType);
            float[] a = Floats(t), b = Floats(g);
            double err = Math.Sqrt(a.Zip(b).Sum(p => (double)(p.First - p.Second) * (p.First - p.Second)));
            double norm = Math.Sqrt(a.Sum(v => (double)v * v));
            Assert.True(err <= relativeTolerance * norm, $"{name}: relative error {err / norm}");
        }
    }

    [Fact]
    public void Llama3ScalingIsRecoveredFromRopeFreqsAlone()
    {
        var scaling = new RopeScaling("llama3", 8.0, 1.0, 4.0, 8192);
        var freqs = GgufConfigReader.Llama3RopeFreqs(scaling, 500000.0, 128);
        using var temp = new TestSafetensors.TempDir();
        string path = temp.File("rope.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.Add("llama.embedding_length", 4096u);
        w.Add("llama.feed_forward_length", 14336u);
        w.Add("llama.block_count", 1u);
        w.Add("llama.attention.head_count", 32u);
        w.Add("llama.attention.head_count_kv", 8u);
        w.Add("llama.rope.freq_base", 500000f);
        w.Add("llama.vocab_size", 10u);
        w.AddTensor(GgufTensorNames.RopeFreqs, GgmlType.F32, [64], s => s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(freqs.AsSpan())));
        w.Write(path);
        using var file = GgufFile.Open(path);
        var recovered = GgufConfigReader.Read(file).RopeScaling!;
        Assert.Equal("llama3", recovered.Type);
        Assert.Equal(8.0, recovered.Factor);
        // Whatever original length is inferred, it must reproduce the same divisors.
        Assert.Equal(freqs, GgufConfigReader.Llama3RopeFreqs(recovered, 500000.0, 128), (x, y) => Math.Abs(x - y) < 1e-4f * x);
    }

    internal static float[] Floats(TensorInfo t)
    {
        var values = new float[t.ElementCount];
        GgmlQuants.Dequantize(t.DType, t.Bytes, values);
        return values;
    }
}
