using Loom.Backends.Cpu;
using Loom.Backends.Tests.Contract;
using Loom.Models;
using Loom.Models.Config;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Backends.Tests.Cpu;

/// <summary>The executor contract, run on the CPU backend.</summary>
[Trait("Backend", "cpu")]
public sealed class CpuExecutorContractTests : ExecutorContractTests
{
    protected override IBackend Backend { get; } = new CpuBackend();

    [Fact]
    public void KvBytesPerBlock_CountsKAndVOfEveryLayerInFp32()
    {
        using var m = GoldenModel.Load("llama-gqa");
        long expected = (long)m.Config.NumHiddenLayers * 2 * 16 * m.Config.NumKeyValueHeads * m.Config.HeadDim * sizeof(float);
        Assert.Equal(expected, new CpuBackend().KvBytesPerBlock(m.Config, 16));
        Assert.Equal(expected / 2, new CpuBackend().KvBytesPerBlock(m.Config, 16, KvCacheDType.BFloat16));
    }
}

/// <summary>The golden forward, run on the CPU backend.</summary>
[Trait("Backend", "cpu")]
public sealed class CpuGoldenForwardTests : GoldenForwardTests
{
    protected override IBackend Backend { get; } = new CpuBackend();
}

/// <summary>Binding weights to the config: clear errors for missing or misshapen tensors, and every family's names.</summary>
public class WeightBindingTests
{
    /// <summary>A fixture checkpoint with one tensor removed or replaced.</summary>
    private sealed class EditedWeights(IWeightSource inner, string name, TensorInfo? replacement) : IWeightSource
    {
        public IReadOnlyDictionary<string, TensorInfo> Tensors { get; } = Edit(inner, name, replacement);
        public TensorInfo Get(string n) => Tensors[n];
        public void Dispose() { }

        private static Dictionary<string, TensorInfo> Edit(IWeightSource inner, string name, TensorInfo? replacement)
        {
            var d = inner.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
            if (replacement == null) d.Remove(name); else d[name] = replacement;
            return d;
        }
    }

    [Fact]
    public void LoadModel_MissingTensor_NamesIt()
    {
        using var m = GoldenModel.Load("phi3-fused");
        const string name = "model.layers.1.mlp.gate_up_proj.weight";
        var e = Assert.Throws<ModelLoadException>(() =>
            new CpuBackend().LoadModel(m.Config, new EditedWeights(m.Weights, name, null), new KvCacheSpec(4, 4)));
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public unsafe void LoadModel_TensorWithWrongShape_NamesItAndBothShapes()
    {
        using var m = GoldenModel.Load("qwen2-bias-tied");
        const string name = "model.layers.0.self_attn.k_proj.bias";
        var real = m.Weights.Get(name);
        var wrong = new TensorInfo(name, real.DType, [real.Shape[0] / 2], real.Data, real.ByteLength / 2, real.File);
        var e = Assert.Throws<ModelLoadException>(() =>
            new CpuBackend().LoadModel(m.Config, new EditedWeights(m.Weights, name, wrong), new KvCacheSpec(4, 4)));
        Assert.Contains(name, e.Message);
        Assert.Contains($"[{real.Shape[0] / 2}]", e.Message);
    }

    public static TheoryData<string> Models() => new(GoldenModel.Names);

    /// <summary>The ckpt helper's dummy weights use the same names and shapes the forward binds, for every family.</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void DummyWeights_BindAndRun_ForEveryFamily(string model)
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel(model));
        using var weights = new DummyWeightSource(config, DType.BF16, seed: 7);
        using var executor = new CpuBackend().LoadModel(config, weights, new KvCacheSpec(4, 4));
        var logits = executor.Forward(ForwardBatch.Of([1, 2, 3], [0, 1, 2], [new SequenceSlice(0, 3, 3, [2])], [2])).ToArray();
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        Assert.True(logits.Max() > logits.Min());
    }
}
