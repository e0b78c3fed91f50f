using Loom.Models.Config;
using Loom.Tests;

namespace Loom.Models.Tests.Checkpoints;

public class ModelConfigLoaderTests
{
    private static ModelConfig Fixture(string name) => ModelConfigLoader.Load(RepoPaths.FixtureModel(name));

    [Fact]
    public void LlamaGqa()
    {
        var c = Fixture("llama-gqa");
        Assert.Equal("LlamaForCausalLM", c.Architecture);
        Assert.Equal("llama", c.ModelType);
        Assert.Equal((2000, 64, 160, 2), (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers));
        Assert.Equal((4, 2, 16), (c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.Equal(1e-5f, c.RmsNormEps);
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.Null(c.RopeScaling);
        Assert.Null(c.SlidingWindow);
        Assert.False(c.AttentionBias || c.AttentionOutputBias || c.MlpBias || c.QkNorm || c.FusedQkv || c.FusedGateUp);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal(1, c.BosTokenId);
        Assert.Equal([2], c.EosTokenIds);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Equal(4096, c.MaxPositionEmbeddings);
    }

    [Fact]
    public void Llama3RopeScaled()
    {
        var c = Fixture("llama3-ropescaled");
        Assert.Equal((4, 1, 16), (c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal(new RopeScaling("llama3", 8.0, 1.0, 4.0, 128), c.RopeScaling);
        Assert.Empty(c.EosTokenIds);
        Assert.Equal("float32", c.TorchDtype);
    }

    [Fact]
    public void MistralSlidingWindow()
    {
        var c = Fixture("mistral-slidingwindow");
        Assert.Equal("MistralForCausalLM", c.Architecture);
        Assert.Equal(32, c.SlidingWindow);
        Assert.Equal((4, 2, 16), (c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.False(c.AttentionBias);
    }

    [Fact]
    public void Phi3Fused()
    {
        var c = Fixture("phi3-fused");
        Assert.Equal("Phi3ForCausalLM", c.Architecture);
        Assert.True(c.FusedQkv);
        Assert.True(c.FusedGateUp);
        Assert.Null(c.RopeScaling);
        Assert.Null(c.SlidingWindow);
        Assert.False(c.AttentionBias);
    }

    [Fact]
    public void Qwen2BiasTied()
    {
        var c = Fixture("qwen2-bias-tied");
        Assert.True(c.AttentionBias);
        Assert.False(c.AttentionOutputBias);
        Assert.True(c.TieWordEmbeddings);
        Assert.Null(c.SlidingWindow);
        Assert.Equal(1000000.0, c.RopeTheta);
        Assert.Equal("float16", c.TorchDtype);
        Assert.Equal(3000, c.VocabSize);
    }

    [Fact]
    public void Qwen3QkNorm()
    {
        var c = Fixture("qwen3-qknorm");
        Assert.True(c.QkNorm);
        Assert.Equal(32, c.HeadDim);
        Assert.Equal(64, c.HiddenSize);
        Assert.Equal((128, 64), (c.QSize, c.KvSize));
        Assert.False(c.AttentionBias);
        Assert.True(c.TieWordEmbeddings);
    }

    [Fact]
    public void DemoModel()
    {
        var c = ModelConfigLoader.Load(RepoPaths.DemoModel);
        Assert.Equal((4096, 256, 704, 6), (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers));
        Assert.Equal((8, 2, 32), (c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(0, c.BosTokenId);
        Assert.Equal([0], c.EosTokenIds);
        Assert.Equal(1024, c.MaxPositionEmbeddings);
    }

    [Fact]
    public void DummyConfigsAsPublished()
    {
        string dir = Path.Combine(RepoPaths.Fixtures, "dummy-configs");
        var qwen = ModelConfigLoader.Load(Path.Combine(dir, "qwen2.5-0.5b"));
        Assert.Equal((896, 14, 2, 64, 24), (qwen.HiddenSize, qwen.NumAttentionHeads, qwen.NumKeyValueHeads, qwen.HeadDim, qwen.NumHiddenLayers));
        Assert.Null(qwen.SlidingWindow); // sliding_window 32768 but use_sliding_window false
        Assert.True(qwen.AttentionBias && qwen.TieWordEmbeddings);

        var llama1b = ModelConfigLoader.Load(Path.Combine(dir, "llama-3.2-1b"));
        Assert.Equal(new RopeScaling("llama3", 32.0, 1.0, 4.0, 8192), llama1b.RopeScaling);
        Assert.Equal((64, 8), (llama1b.HeadDim, llama1b.NumKeyValueHeads));
        Assert.True(llama1b.TieWordEmbeddings);

        var llama8b = ModelConfigLoader.Load(Path.Combine(dir, "llama-3.1-8b"));
        Assert.Equal(new RopeScaling("llama3", 8.0, 1.0, 4.0, 8192), llama8b.RopeScaling);
        Assert.Equal((4096, 14336, 32, 128), (llama8b.HiddenSize, llama8b.IntermediateSize, llama8b.NumHiddenLayers, llama8b.HeadDim));
        Assert.False(llama8b.TieWordEmbeddings);
    }

    private const string Base = """
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100
        """;

    private static ModelConfig Parse(string fields) => ModelConfigLoader.FromJson("{" + Base + "," + fields + "}");

    private static string ParseError(string fields) =>
        Assert.Throws<ModelLoadException>(() => Parse(fields)).Message;

    [Fact]
    public void RopeThetaInsideRopeParameters()
    {
        var c = Parse("""
            "architectures": ["LlamaForCausalLM"], "rope_parameters": {"rope_type": "default", "rope_theta": 250000.0}
            """);
        Assert.Equal(250000.0, c.RopeTheta);
        Assert.Null(c.RopeScaling);
    }

    [Fact]
    public void ScalingInsideRopeParameters()
    {
        var c = Parse("""
            "architectures": ["LlamaForCausalLM"], "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0,
              "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
            """);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal(new RopeScaling("llama3", 8.0, 1.0, 4.0, 8192), c.RopeScaling);
    }

    [Fact]
    public void LinearScalingWithLegacyTypeKey()
    {
        var c = Parse("""
            "architectures": ["LlamaForCausalLM"], "rope_scaling": {"type": "linear", "factor": 4.0}
            """);
        Assert.Equal(new RopeScaling("linear", 4.0), c.RopeScaling);
    }

    [Theory]
    [InlineData("yarn")]
    [InlineData("longrope")]
    [InlineData("dynamic")]
    public void UnsupportedRopeTypeIsNamed(string type)
    {
        string message = ParseError($$"""
            "architectures": ["LlamaForCausalLM"], "rope_scaling": {"rope_type": "{{type}}", "factor": 4.0}
            """);
        Assert.Contains($"'{type}'", message);
    }

    [Fact]
    public void DefaultsAndVariants()
    {
        var c = Parse("""
            "architectures": ["LlamaForCausalLM"], "attention_bias": true, "mlp_bias": true, "eos_token_id": [7, 9],
            "dtype": "bfloat16", "num_key_value_heads": null
            """);
        Assert.Equal(16, c.HeadDim);
        Assert.Equal(4, c.NumKeyValueHeads);
        Assert.True(c.AttentionBias && c.AttentionOutputBias && c.MlpBias);
        Assert.Equal([7, 9], c.EosTokenIds);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Equal(10000.0, c.RopeTheta);
    }

    [Fact]
    public void QwenSlidingWindowOnAllLayers()
    {
        var c = Parse("""
            "architectures": ["Qwen2ForCausalLM"], "use_sliding_window": true, "sliding_window": 64, "max_window_layers": 0
            """);
        Assert.Equal(64, c.SlidingWindow);
        Assert.Contains("max_window_layers", ParseError("""
            "architectures": ["Qwen2ForCausalLM"], "use_sliding_window": true, "sliding_window": 64, "max_window_layers": 1
            """));
    }

    [Fact]
    public void ModelTypeAloneIsEnough()
    {
        Assert.Equal("Qwen3ForCausalLM", Parse("\"model_type\": \"qwen3\"").Architecture);
    }

    [Fact]
    public void UnsupportedArchitectureIsNamed()
    {
        string message = ParseError("\"architectures\": [\"GPT2LMHeadModel\"]");
        Assert.Contains("GPT2LMHeadModel", message);
        Assert.Contains("LlamaForCausalLM", message);
    }

    [Theory]
    [InlineData("\"architectures\": [\"LlamaForCausalLM\"], \"num_key_value_heads\": 3", "num_key_value_heads")]
    [InlineData("\"architectures\": [\"LlamaForCausalLM\"], \"hidden_act\": \"gelu\"", "hidden_act")]
    [InlineData("\"architectures\": [\"LlamaForCausalLM\"], \"rope_theta\": \"big\"", "rope_theta")]
    [InlineData("\"architectures\": [\"LlamaForCausalLM\"], \"eos_token_id\": \"x\"", "eos_token_id")]
    [InlineData("\"architectures\": [\"LlamaForCausalLM\"], \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}", "original_max_position_embeddings")]
    public void BadFieldIsNamed(string fields, string field)
    {
        Assert.Contains(field, ParseError(fields));
    }

    [Fact]
    public void MissingRequiredFieldIsNamed()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelConfigLoader.FromJson("""{"architectures": ["LlamaForCausalLM"], "hidden_size": 8}"""));
        Assert.Contains("num_attention_heads", e.Message);
    }

    [Fact]
    public void MissingConfigFileIsClear()
    {
        using var dir = new TestSafetensors.TempDir();
        var e = Assert.Throws<ModelLoadException>(() => ModelConfigLoader.Load(dir.Path));
        Assert.Contains("config.json", e.Message);
        Assert.Throws<ModelLoadException>(() => ModelConfigLoader.Load(dir.File("absent")));
    }

    [Fact]
    public void InvalidJsonIsClear()
    {
        using var dir = new TestSafetensors.TempDir();
        File.WriteAllText(dir.File("config.json"), "{ \"hidden_size\": ");
        var e = Assert.Throws<ModelLoadException>(() => ModelConfigLoader.Load(dir.Path));
        Assert.Contains("not valid JSON", e.Message);
    }
}
