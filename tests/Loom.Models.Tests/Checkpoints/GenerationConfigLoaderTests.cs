using Loom.Models.Config;
using Loom.Tests;

namespace Loom.Models.Tests.Checkpoints;

public class GenerationConfigLoaderTests
{
    [Fact]
    public void DemoDefaults()
    {
        var g = GenerationConfigLoader.Load(RepoPaths.DemoModel);
        Assert.Equal(0.8f, g.Temperature);
        Assert.Equal(0.95f, g.TopP);
        Assert.Equal(128, g.MaxNewTokens);
        Assert.Equal(0, g.BosTokenId);
        Assert.Equal([0], g.EosTokenIds);
        Assert.Null(g.TopK);
    }

    [Fact]
    public void AbsentFileGivesEmpty()
    {
        Assert.Same(GenerationConfig.Empty, GenerationConfigLoader.Load(RepoPaths.FixtureModel("llama-gqa")));
    }

    [Fact]
    public void EosListAndBadField()
    {
        using var dir = new TestSafetensors.TempDir();
        File.WriteAllText(dir.File("generation_config.json"), """{"eos_token_id": [1, 2], "top_k": 20, "repetition_penalty": 1.1}""");
        var g = GenerationConfigLoader.Load(dir.Path);
        Assert.Equal([1, 2], g.EosTokenIds);
        Assert.Equal(20, g.TopK);
        Assert.Equal(1.1f, g.RepetitionPenalty);

        File.WriteAllText(dir.File("generation_config.json"), """{"top_k": "many"}""");
        Assert.Contains("top_k", Assert.Throws<ModelLoadException>(() => GenerationConfigLoader.Load(dir.Path)).Message);
    }
}
