using Loom.Models.Config;
using Loom.Models.Definition;
using Loom.Models.Weights;

namespace Loom.Models.Gguf;

/// <summary>
/// The tensors of a GGUF checkpoint under their Hugging Face names and shapes, memory-mapped. Quantized tensors stay
/// quantized (the DType of each GGUF block type Loom computes with). Llama q/k projections, which llama.cpp stores with permuted rows, are
/// un-permuted into owned native buffers; everything else points into the mapping. Valid until Dispose.
/// </summary>
public sealed unsafe class GgufWeightSource : IWeightSource
{
    private readonly Dictionary<string, TensorInfo> _tensors = new(StringComparer.Ordinal);
    private readonly List<NativeBuffer> _owned = [];

    public GgufFile File { get; }
    public ModelConfig Config { get; }
    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;

    private GgufWeightSource(GgufFile file)
    {
        File = file;
        Config = GgufConfigReader.Read(file);
        string arch = file.Metadata.RequiredString("general.architecture");
        foreach (var t in file.Tensors)
        {
            if (t.Name == GgufTensorNames.RopeFreqs) continue; // folded into Config.RopeScaling
            string name = GgufTensorNames.ToHf(t.Name, Config.FusedGateUp) ?? t.Name;
            var dtype = GgmlTypes.ToDType(t.Type)
                ?? throw new ModelLoadException($"{file.Path}: tensor '{t.Name}' has type {t.Type}, which Loom cannot compute with (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q4_K, Q5_K, Q6_K).");
            if (_tensors.ContainsKey(name)) throw new ModelLoadException($"{file.Path}: tensors '{t.Name}' and another both map to '{name}'.");
            byte* data = t.Data;
            if (GgufTensorNames.IsRopePermuted(name, arch)) data = Unpermute(t, name);
            _tensors[name] = new TensorInfo(name, dtype, t.TorchShape, data, t.ByteLength, file.Path);
        }
    }

    /// <summary>Opens a .gguf file and reads its config; the caller validates tensors with <see cref="ModelDefinition.Validate"/>.</summary>
    public static GgufWeightSource Open(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            return new GgufWeightSource(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public TensorInfo Get(string name) => _tensors.TryGetValue(name, out var t)
        ? t
        : throw new ModelLoadException($"Tensor '{name}' not found in checkpoint {File.Path}.");

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public void Dispose()
    {
        foreach (var b in _owned) b.Dispose();
        _owned.Clear();
        File.Dispose();
    }

    private byte* Unpermute(GgufTensor t, string hfName)
    {
        bool isK = hfName.Contains(HfTensorNames.KProj, StringComparison.Ordinal);
        int heads = isK ? Config.NumKeyValueHeads : Config.NumAttentionHeads;
        long rows = t.Dims.Length == 1 ? t.Dims[0] : t.Dims[1];
        if (rows != (long)heads * Config.HeadDim)
            throw new ModelLoadException($"{File.Path}: tensor '{t.Name}' has {rows} rows, expected {heads} heads x {Config.HeadDim}.");
        var buffer = new NativeBuffer(t.ByteLength);
        _owned.Add(buffer);
        GgufTensorNames.PermuteRows(new ReadOnlySpan<byte>(t.Data, checked((int)t.ByteLength)),
            new Span<byte>(buffer.Pointer, (int)t.ByteLength), heads, t.ByteLength / rows, toGguf: false);
        return buffer.Pointer;
    }
}
