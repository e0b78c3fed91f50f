using System.Collections.Immutable;
using Loom.Models.Config;

namespace Loom.Models.Definition;

/// <summary>
/// A decoder-only model as no backend owns it: the tensors a config requires, bound by Hugging Face name with their
/// roles and shapes, the family flags, and the order of operations in a layer. An executor (CPU today, CUDA later)
/// binds these tensors to its kernels and runs <see cref="LayerSteps"/> for each of <see cref="Layers"/>:
/// embed → layers → final norm → lm_head.
/// </summary>
public sealed partial class ModelDefinition
{
    private ModelDefinition(ModelConfig config)
    {
        Config = config;
        Flags = DecoderFlags.From(config);
        long h = config.HiddenSize;
        Embedding = new ModelTensor(HfTensorNames.Embedding, TensorRole.Embedding, [config.VocabSize, h]);
        var layers = ImmutableArray.CreateBuilder<DecoderLayerDefinition>(config.NumHiddenLayers);
        for (int i = 0; i < config.NumHiddenLayers; i++) layers.Add(BuildLayer(config, i));
        Layers = layers.MoveToImmutable();
        FinalNorm = new ModelTensor(HfTensorNames.FinalNorm, TensorRole.FinalNorm, [h]);
        var lmHead = Flags.TiedEmbeddings ? Embedding : new ModelTensor(HfTensorNames.LmHead, TensorRole.LmHead, [config.VocabSize, h]);
        LmHead = new LinearDefinition(lmHead, null, 0, config.VocabSize);
        LayerSteps = StepsOf(Flags);
        Tensors = ListTensors();
    }

    /// <summary>The definition of the model <paramref name="config"/> describes.</summary>
    public static ModelDefinition For(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new ModelDefinition(config);
    }

    public ModelConfig Config { get; }
    public DecoderFlags Flags { get; }
    public ModelTensor Embedding { get; }                         // [vocab, hidden]
    public ImmutableArray<DecoderLayerDefinition> Layers { get; }
    public ModelTensor FinalNorm { get; }                         // [hidden]
    /// <summary>[vocab, hidden]: lm_head.weight, or the embedding itself when tied.</summary>
    public LinearDefinition LmHead { get; }
    /// <summary>The operations of every decoder layer, in order.</summary>
    public ImmutableArray<LayerStep> LayerSteps { get; }
    /// <summary>Every tensor the checkpoint must hold, in checkpoint order (embedding, layers, final norm, lm_head).</summary>
    public IReadOnlyList<ModelTensor> Tensors { get; }

    /// <summary>h = x + attn(norm(x)); out = h + mlp(norm(h)), with the qk-norm step where the family has it.</summary>
    private static ImmutableArray<LayerStep> StepsOf(DecoderFlags flags)
    {
        var steps = ImmutableArray.CreateBuilder<LayerStep>();
        steps.Add(LayerStep.InputNorm);
        steps.Add(LayerStep.QkvProjection);
        if (flags.QkNorm) steps.Add(LayerStep.QkNorm);
        steps.AddRange(LayerStep.Rope, LayerStep.KvCacheWrite, LayerStep.Attention, LayerStep.OutputProjection, LayerStep.ResidualAdd);
        steps.AddRange(LayerStep.PostAttentionNorm, LayerStep.GateUpProjection, LayerStep.SiluMul, LayerStep.DownProjection, LayerStep.ResidualAdd);
        return steps.ToImmutable();
    }

    private List<ModelTensor> ListTensors()
    {
        var list = new List<ModelTensor> { Embedding };
        foreach (var layer in Layers) list.AddRange(layer.Tensors);
        list.Add(FinalNorm);
        if (!Flags.TiedEmbeddings) list.Add(LmHead.Weight);
        return list;
    }
}
