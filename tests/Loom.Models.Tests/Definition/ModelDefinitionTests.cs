using Loom.Models.Config;
using Loom.Models.Definition;
using Loom.Tests;

namespace Loom.Models.Tests.Definition;

/// <summary>The backend-neutral model definition: flags, layer steps and tensor bindings per family.</summary>
public class ModelDefinitionTests
{
    private static ModelDefinition Fixture(string model) => ModelDefinition.For(ModelConfigLoader.Load(RepoPaths.FixtureModel(model)));

    [Fact]
    public void LayerSteps_ArePreNorm_WithQkNormOnlyWhereTheFamilyHasIt()
    {
        LayerStep[] llama =
        [
            LayerStep.InputNorm, LayerStep.QkvProjection, LayerStep.Rope, LayerStep.KvCacheWrite, LayerStep.Attention,
            LayerStep.OutputProjection, LayerStep.ResidualAdd, LayerStep.PostAttentionNorm, LayerStep.GateUpProjection,
            LayerStep.SiluMul, LayerStep.DownProjection, LayerStep.ResidualAdd,
        ];
        Assert.Equal(llama, Fixture("llama-gqa").LayerSteps.ToArray());
        var qwen3 = Fixture("qwen3-qknorm");
        Assert.True(qwen3.Flags.QkNorm);
        LayerStep[] withQkNorm = [.. llama[..2], LayerStep.QkNorm, .. llama[2..]];
        Assert.Equal(string.Join(",", withQkNorm), string.Join(",", qwen3.LayerSteps));
        Assert.All(qwen3.Layers, l => Assert.NotNull(l.QNorm));
    }

    [Fact]
    public void FusedProjections_AreRowRangesOfOneTensor()
    {
        var phi3 = Fixture("phi3-fused");
        var c = phi3.Config;
        var layer = phi3.Layers[1];
        Assert.Same(layer.Q.Weight, layer.K.Weight);
        Assert.Same(layer.K.Weight, layer.V.Weight);
        Assert.Equal("model.layers.1.self_attn.qkv_proj.weight", layer.Q.Weight.Name);
        Assert.Equal([0, c.QSize, c.QSize + c.KvSize], new[] { layer.Q.RowOffset, layer.K.RowOffset, layer.V.RowOffset });
        Assert.Equal(c.IntermediateSize, layer.Up.RowOffset);
        Assert.Equal(TensorRole.GateUpProj, layer.Gate.Weight.Role);
        Assert.Single(layer.Tensors, t => t.Role == TensorRole.QkvProj);
    }

    [Fact]
    public void TiedEmbeddings_LmHeadIsTheEmbedding_AndNotAFileTensor()
    {
        var tied = Fixture("qwen2-bias-tied");
        Assert.True(tied.Flags.TiedEmbeddings);
        Assert.Same(tied.Embedding, tied.LmHead.Weight);
        Assert.DoesNotContain(tied.Tensors, t => t.Name == HfTensorNames.LmHead);
        Assert.NotNull(tied.Layers[0].Q.Bias);
        Assert.Equal(HfTensorNames.LmHead, Fixture("llama-gqa").LmHead.Weight.Name);
    }

    [Fact]
    public void FamilyFlags_ComeFromTheConfig()
    {
        Assert.Equal(32, Fixture("mistral-slidingwindow").Flags.SlidingWindow);
        Assert.Equal("llama3", Fixture("llama3-ropescaled").Flags.RopeScaling?.Type);
        Assert.Null(Fixture("llama-gqa").Flags.SlidingWindow);
    }
}
