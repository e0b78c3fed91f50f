using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Models.Tests.Gguf;

/// <summary>The load-time quantizer applies the exporter's rule and writes the reference quantizer's bytes.</summary>
public class QuantizedWeightSourceTests
{
    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void QuantizesWholeBlockMatricesAndKeepsTheRest(DType type)
    {
        string dir = RepoPaths.FixtureModel("qwen2-bias-tied");
        using var original = SafetensorsWeightSource.Open(dir);
        using var quantized = QuantizedWeightSource.Quantize(SafetensorsWeightSource.Open(dir), type);
        Assert.Equal(original.Tensors.Keys.Order(), quantized.Tensors.Keys.Order());
        int matrices = 0;
        foreach (var (name, t) in original.Tensors)
        {
            var q = quantized.Get(name);
            Assert.Equal(t.Shape, q.Shape);
            if (t.Shape.Length == 1)
            {
                Assert.Equal(t.DType, q.DType); // norms and biases as stored
                Assert.True(t.Bytes.SequenceEqual(q.Bytes), name);
                continue;
            }
            matrices++;
            Assert.Equal(type, q.DType);
            Assert.True(ReferenceBytes(t, type).AsSpan().SequenceEqual(q.Bytes), $"{name}: bytes differ from GgmlQuants");
        }
        Assert.True(matrices > 0);
    }

    [Fact]
    public void RaggedRowsKeepTheirType()
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel("llama-gqa")) with { IntermediateSize = 40 };
        using var quantized = QuantizedWeightSource.Quantize(new DummyWeightSource(config, DType.F16, seed: 2), DType.Q8_0);
        Assert.Equal(DType.F16, quantized.Get("model.layers.0.mlp.down_proj.weight").DType); // rows of 40 values
        Assert.Equal(DType.Q8_0, quantized.Get("model.layers.0.mlp.up_proj.weight").DType);
    }

    [Fact]
    public void RejectsOtherTypesAndDisposesTheSource()
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel("llama-gqa"));
        var inner = new DummyWeightSource(config, DType.F32, seed: 1);
        var e = Assert.Throws<ArgumentException>(() => QuantizedWeightSource.Quantize(inner, DType.Q4_K));
        Assert.Contains("Q4_K", e.Message);
        Assert.Empty(inner.Tensors); // disposed
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel("llama-gqa"));
        using var quantized = QuantizedWeightSource.Quantize(new DummyWeightSource(config, DType.F32, seed: 1), DType.Q4_0);
        var e = Assert.Throws<ModelLoadException>(() => quantized.Get("no.such.weight"));
        Assert.Contains("no.such.weight", e.Message);
    }

    [Fact]
    public void ReportsProgressUpToOne()
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel("llama-gqa"));
        var reports = new List<double>();
        using var quantized = QuantizedWeightSource.Quantize(new DummyWeightSource(config, DType.BF16, seed: 1), DType.Q8_0,
            new SyncProgress(reports.Add));
        Assert.NotEmpty(reports);
        Assert.Equal(1.0, reports[^1], 9);
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.First <= p.Second));
    }

    private static byte[] ReferenceBytes(TensorInfo t, DType type)
    {
        var values = new float[t.ElementCount];
        GgmlQuants.Dequantize(t.DType, t.Bytes, values);
        var bytes = new byte[DTypes.ByteCount(type, values.Length)!.Value];
        if (type == DType.Q8_0) GgmlQuants.QuantizeQ8_0(values, bytes);
        else GgmlQuants.QuantizeQ4_0(values, bytes);
        return bytes;
    }

    private sealed class SyncProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
