using System.Runtime.InteropServices;
using System.Text.Json;
using Loom.Models.Config;
using Loom.Models.Definition;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Models.Tests.Checkpoints;

public class SafetensorsWeightSourceTests
{
    public static TheoryData<string> FixtureModels => new()
    {
        "llama-gqa", "llama3-ropescaled", "mistral-slidingwindow", "phi3-fused", "qwen2-bias-tied", "qwen3-qknorm",
    };

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void FixtureWeightsMatchTheirConfig(string model)
    {
        string dir = RepoPaths.FixtureModel(model);
        var config = ModelConfigLoader.Load(dir);
        using var weights = SafetensorsWeightSource.Open(dir);
        Assert.Empty(ModelDefinition.For(config).FindProblems(weights));
        ModelDefinition.For(config).Validate(weights);
        Assert.Equal(ModelDefinition.For(config).Tensors.Count, weights.Tensors.Count);
    }

    [Fact]
    public void DemoWeightsMatchTheirConfig()
    {
        var config = ModelConfigLoader.Load(RepoPaths.DemoModel);
        using var weights = SafetensorsWeightSource.Open(RepoPaths.DemoModel);
        ModelDefinition.For(config).Validate(weights);
        Assert.Equal(DType.BF16, weights.Get(HfTensorNames.Embedding).DType);
        Assert.Equal("pt", weights.Metadata["format"]);
    }

    [Fact]
    public void StoredDtypesAreKept()
    {
        using var bf16 = SafetensorsWeightSource.Open(RepoPaths.FixtureModel("llama-gqa"));
        using var f16 = SafetensorsWeightSource.Open(RepoPaths.FixtureModel("qwen2-bias-tied"));
        var norm = bf16.Get(HfTensorNames.FinalNorm);
        Assert.Equal(DType.BF16, norm.DType);
        Assert.Equal(128, norm.ByteLength);
        var bias = f16.Get(HfTensorNames.Layer(0, HfTensorNames.QProj + ".bias"));
        Assert.Equal(DType.F16, bias.DType);
        Assert.Equal([64L], bias.Shape);
    }

    [Fact]
    public void GoldenOutputsAreReadable()
    {
        string dir = RepoPaths.FixtureModel("llama-gqa");
        using var golden = SafetensorsWeightSource.OpenFile(Path.Combine(dir, "golden.safetensors"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "golden.json")));
        var ids = golden.Get("case4.input_ids");
        Assert.Equal(DType.I64, ids.DType);
        Assert.Equal([300L], ids.Shape);
        var values = MemoryMarshal.Cast<byte, long>(ids.Bytes);
        Assert.All(values.ToArray(), id => Assert.InRange(id, 0, 1999));
        var logits = golden.Get("case0.logits");
        Assert.Equal(DType.F32, logits.DType);
        Assert.Equal([4L, 2000L], logits.Shape);
        Assert.All(MemoryMarshal.Cast<byte, float>(logits.Bytes).ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void ShardedCheckpointLoadsLikeTheSingleFile()
    {
        string source = RepoPaths.FixtureModel("qwen2-bias-tied");
        using var dir = new TestSafetensors.TempDir();
        using var single = SafetensorsWeightSource.Open(source);
        WriteShards(single, dir, shardCount: 3);
        File.Copy(Path.Combine(source, "config.json"), dir.File("config.json"));

        using var sharded = SafetensorsWeightSource.Open(dir.Path);
        ModelDefinition.For(ModelConfigLoader.Load(dir.Path)).Validate(sharded);
        Assert.Equal(single.Tensors.Count, sharded.Tensors.Count);
        foreach (var (name, t) in single.Tensors)
        {
            var s = sharded.Get(name);
            Assert.Equal(t.DType, s.DType);
            Assert.Equal(t.Shape, s.Shape);
            Assert.True(t.Bytes.SequenceEqual(s.Bytes), name);
        }
        Assert.Equal(3, sharded.Tensors.Values.Select(t => t.File).Distinct().Count());
    }

    [Fact]
    public void IndexNamingAMissingShardIsRejected()
    {
        using var dir = new TestSafetensors.TempDir();
        using var single = SafetensorsWeightSource.Open(RepoPaths.FixtureModel("llama-gqa"));
        WriteShards(single, dir, shardCount: 2);
        File.Delete(dir.File("model-00002-of-00002.safetensors"));
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsWeightSource.Open(dir.Path));
        Assert.Contains("model-00002-of-00002.safetensors", e.Message);
    }

    [Fact]
    public void IndexNamingATensorMissingFromItsShardIsRejected()
    {
        using var dir = new TestSafetensors.TempDir();
        File.WriteAllBytes(dir.File("a.safetensors"), TestSafetensors.Build([TestSafetensors.F32("x", [2], 1)]));
        File.WriteAllText(dir.File(SafetensorsWeightSource.IndexFileName), """{"weight_map": {"x": "a.safetensors", "y": "a.safetensors"}}""");
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsWeightSource.Open(dir.Path));
        Assert.Contains("'y'", e.Message);
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("")]
    public void IndexShardMustBeAFileInTheModelDirectory(string shard)
    {
        using var dir = new TestSafetensors.TempDir();
        File.WriteAllText(dir.File(SafetensorsWeightSource.IndexFileName), $$$"""{"weight_map": {"x": "{{{shard}}}"}}""");
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsWeightSource.Open(dir.Path));
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void MissingCheckpointIsClear()
    {
        using var dir = new TestSafetensors.TempDir();
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsWeightSource.Open(dir.Path));
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void MissingTensorNamesTensorAndCheckpoint()
    {
        using var weights = SafetensorsWeightSource.Open(RepoPaths.FixtureModel("phi3-fused"));
        var e = Assert.Throws<ModelLoadException>(() => weights.Get("model.layers.0.self_attn.q_proj.weight"));
        Assert.Contains("model.layers.0.self_attn.q_proj.weight", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void ValidationNamesMissingUnexpectedAndMisshapedTensors()
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel("llama-gqa")) with { TieWordEmbeddings = true, NumKeyValueHeads = 4 };
        using var weights = SafetensorsWeightSource.Open(RepoPaths.FixtureModel("llama-gqa"));
        var problems = ModelDefinition.For(config).FindProblems(weights);
        Assert.Contains(problems, p => p.Contains("unexpected tensor 'lm_head.weight'"));
        Assert.Contains(problems, p => p.Contains("'model.layers.1.self_attn.k_proj.weight' has shape [32,64], expected [64,64]"));
        var e = Assert.Throws<ModelLoadException>(() => ModelDefinition.For(config with { QkNorm = true }).Validate(weights));
        Assert.Contains("missing tensor 'model.layers.0.self_attn.q_norm.weight'", e.Message);
    }

    [Fact]
    public void RotaryInvFreqBuffersAreIgnored()
    {
        Assert.True(HfTensorNames.IsIgnored("model.layers.0.self_attn.rotary_emb.inv_freq"));
        Assert.False(HfTensorNames.IsIgnored("model.layers.0.self_attn.q_proj.weight"));
    }

    /// <summary>Writes the tensors of <paramref name="source"/> as shards model-0000i-of-0000n plus an index, like save_pretrained.</summary>
    internal static void WriteShards(IWeightSource source, TestSafetensors.TempDir dir, int shardCount)
    {
        var names = source.Tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var weightMap = new Dictionary<string, string>();
        for (int s = 0; s < shardCount; s++)
        {
            string file = $"model-{s + 1:00000}-of-{shardCount:00000}.safetensors";
            var part = names.Where((_, i) => i % shardCount == s).Select(n => source.Get(n)).ToList();
            foreach (var t in part) weightMap[t.Name] = file;
            File.WriteAllBytes(dir.File(file), TestSafetensors.Build(
                part.Select(t => new RawTensor(t.Name, DTypes.SafetensorsName(t.DType)!, t.Shape, t.Bytes.ToArray())),
                new Dictionary<string, string> { ["format"] = "pt" }));
        }
        File.WriteAllText(dir.File(SafetensorsWeightSource.IndexFileName),
            JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = weightMap }));
    }
}
