using System.Runtime.InteropServices;
using Loom.Models.Config;
using Loom.Models.Definition;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Models.Tests.Checkpoints;

public class DummyWeightSourceTests
{
    private static ModelConfig DummyConfig(string name) => ModelConfigLoader.Load(Path.Combine(RepoPaths.Fixtures, "dummy-configs", name));

    [Theory]
    [InlineData("llama-gqa", DType.F32)]
    [InlineData("qwen2-bias-tied", DType.F16)]
    [InlineData("qwen3-qknorm", DType.BF16)]
    [InlineData("phi3-fused", DType.BF16)]
    public void HasTheNamesAndShapesOfTheRealCheckpoint(string model, DType dtype)
    {
        string dir = RepoPaths.FixtureModel(model);
        var config = ModelConfigLoader.Load(dir);
        using var dummy = new DummyWeightSource(config, dtype, seed: 1);
        using var real = SafetensorsWeightSource.Open(dir);
        ModelDefinition.For(config).Validate(dummy);
        Assert.Equal(real.Tensors.Keys.Order(), dummy.Tensors.Keys.Order());
        foreach (var (name, t) in real.Tensors) Assert.Equal(t.Shape, dummy.Get(name).Shape);
        Assert.All(dummy.Tensors.Values, t => Assert.Equal(dtype, t.DType));
    }

    [Fact]
    public void ValuesAreSmallNormalsNormsAreOneAndSeedDeterminesThem()
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel("llama-gqa"));
        using var a = new DummyWeightSource(config, DType.F32, seed: 42);
        using var b = new DummyWeightSource(config, DType.F32, seed: 42);
        using var c = new DummyWeightSource(config, DType.F32, seed: 43);
        var embed = Floats(a.Get(HfTensorNames.Embedding));
        double mean = embed.Average(), std = Math.Sqrt(embed.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, -0.001, 0.001);
        Assert.InRange(std, 0.019, 0.021);
        Assert.All(Floats(a.Get(HfTensorNames.FinalNorm)), v => Assert.Equal(1f, v));
        Assert.All(Floats(a.Get(HfTensorNames.Layer(1, HfTensorNames.InputNorm))), v => Assert.Equal(1f, v));
        Assert.Equal(embed, Floats(b.Get(HfTensorNames.Embedding)));
        Assert.NotEqual(embed, Floats(c.Get(HfTensorNames.Embedding)));
        // Different tensors of one seed are not copies of each other.
        Assert.NotEqual(Floats(a.Get(HfTensorNames.Layer(0, HfTensorNames.QProj + ".weight"))).Take(64),
            Floats(a.Get(HfTensorNames.Layer(0, HfTensorNames.OProj + ".weight"))).Take(64));
    }

    [Fact]
    public void HalfPrecisionHoldsTheSameValuesRounded()
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel("mistral-slidingwindow"));
        using var f32 = new DummyWeightSource(config, DType.F32, seed: 5);
        using var bf16 = new DummyWeightSource(config, DType.BF16, seed: 5);
        var exact = Floats(f32.Get(HfTensorNames.LmHead));
        var rounded = new float[exact.Length];
        HalfConvert.BF16ToF32(MemoryMarshal.Cast<byte, ushort>(bf16.Get(HfTensorNames.LmHead).Bytes), rounded);
        for (int i = 0; i < exact.Length; i++) Assert.Equal(HalfConvert.BF16ToF32(HalfConvert.F32ToBF16(exact[i])), rounded[i]);
    }

    [Fact]
    public void PublishedParameterCounts()
    {
        // Qwen2.5-0.5B has 494,032,768 parameters and Llama-3.2-1B 1,235,814,400 (as their model cards state).
        Assert.Equal(494_032_768L, ParameterCount(DummyConfig("qwen2.5-0.5b")));
        Assert.Equal(1_235_814_400L, ParameterCount(DummyConfig("llama-3.2-1b")));
        Assert.Equal(8_030_261_248L, ParameterCount(DummyConfig("llama-3.1-8b")));
    }

    [Fact]
    public void UnsupportedDtypeAndMissingTensor()
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel("llama-gqa"));
        Assert.Throws<ArgumentException>(() => new DummyWeightSource(config, DType.Q8_0, 1));
        using var dummy = new DummyWeightSource(config, DType.BF16, 1);
        Assert.Contains("nope", Assert.Throws<ModelLoadException>(() => dummy.Get("nope")).Message);
    }

    private static long ParameterCount(ModelConfig config) =>
        ModelDefinition.For(config).Tensors.Sum(t => t.Shape.Aggregate(1L, (a, d) => a * d));

    private static float[] Floats(TensorInfo t) => MemoryMarshal.Cast<byte, float>(t.Bytes).ToArray();
}
