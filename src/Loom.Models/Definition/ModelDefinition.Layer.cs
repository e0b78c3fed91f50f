using Loom.Models.Config;

namespace Loom.Models.Definition;

/// <summary>How one decoder layer's tensors are named and shaped, per family flag.</summary>
public sealed partial class ModelDefinition
{
    private static DecoderLayerDefinition BuildLayer(ModelConfig config, int i)
    {
        var tensors = new List<ModelTensor>();
        long h = config.HiddenSize;
        int q = config.QSize, kv = config.KvSize, inter = config.IntermediateSize;

        ModelTensor Norm(string part, TensorRole role, long length)
        {
            var t = new ModelTensor(HfTensorNames.Layer(i, part), role, [length], i);
            tensors.Add(t);
            return t;
        }
        (ModelTensor Weight, ModelTensor? Bias) Matrix(string projection, TensorRole role, long outFeatures, long inFeatures, bool bias)
        {
            var weight = new ModelTensor(HfTensorNames.Layer(i, projection + HfTensorNames.WeightSuffix), role, [outFeatures, inFeatures], i);
            tensors.Add(weight);
            ModelTensor? b = null;
            if (bias) tensors.Add(b = new ModelTensor(HfTensorNames.Layer(i, projection + HfTensorNames.BiasSuffix), role, [outFeatures], i, IsBias: true));
            return (weight, b);
        }
        LinearDefinition Linear(string projection, TensorRole role, int outFeatures, long inFeatures, bool bias)
        {
            var (weight, b) = Matrix(projection, role, outFeatures, inFeatures, bias);
            return new LinearDefinition(weight, b, 0, outFeatures);
        }

        var inputNorm = Norm(HfTensorNames.InputNorm, TensorRole.InputNorm, h);
        LinearDefinition qProj, kProj, vProj;
        if (config.FusedQkv)
        {
            var (w, b) = Matrix(HfTensorNames.QkvProj, TensorRole.QkvProj, q + 2L * kv, h, config.AttentionBias);
            (qProj, kProj, vProj) = (new(w, b, 0, q), new(w, b, q, kv), new(w, b, q + kv, kv));
        }
        else
        {
            qProj = Linear(HfTensorNames.QProj, TensorRole.QProj, q, h, config.AttentionBias);
            kProj = Linear(HfTensorNames.KProj, TensorRole.KProj, kv, h, config.AttentionBias);
            vProj = Linear(HfTensorNames.VProj, TensorRole.VProj, kv, h, config.AttentionBias);
        }
        var qNorm = config.QkNorm ? Norm(HfTensorNames.QNorm, TensorRole.QNorm, config.HeadDim) : null;
        var kNorm = config.QkNorm ? Norm(HfTensorNames.KNorm, TensorRole.KNorm, config.HeadDim) : null;
        var oProj = Linear(HfTensorNames.OProj, TensorRole.OProj, config.HiddenSize, q, config.AttentionOutputBias);
        var postNorm = Norm(HfTensorNames.PostAttentionNorm, TensorRole.PostAttentionNorm, h);
        LinearDefinition gate, up;
        if (config.FusedGateUp)
        {
            var (w, b) = Matrix(HfTensorNames.GateUpProj, TensorRole.GateUpProj, 2L * inter, h, config.MlpBias);
            (gate, up) = (new(w, b, 0, inter), new(w, b, inter, inter));
        }
        else
        {
            gate = Linear(HfTensorNames.GateProj, TensorRole.GateProj, inter, h, config.MlpBias);
            up = Linear(HfTensorNames.UpProj, TensorRole.UpProj, inter, h, config.MlpBias);
        }
        var down = Linear(HfTensorNames.DownProj, TensorRole.DownProj, config.HiddenSize, inter, config.MlpBias);
        return new DecoderLayerDefinition
        {
            Index = i, InputNorm = inputNorm, Q = qProj, K = kProj, V = vProj, QNorm = qNorm, KNorm = kNorm, O = oProj,
            PostAttentionNorm = postNorm, Gate = gate, Up = up, Down = down, Tensors = tensors,
        };
    }
}
