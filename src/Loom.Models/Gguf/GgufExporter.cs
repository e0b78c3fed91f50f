using System.Runtime.InteropServices;
using Loom.Models.Config;
using Loom.Models.Definition;
using Loom.Models.Weights;

namespace Loom.Models.Gguf;

/// <summary>
/// Writes a checkpoint as a GGUF file in llama.cpp's conventions: llama.cpp tensor names, Llama q/k rows permuted,
/// {arch}.* hyper-parameters, rope_freqs for llama3 scaling, tokenizer.ggml.* when a tokenizer is given. Matrices are
/// stored as <c>type</c> (F32, F16, BF16, Q8_0 or Q4_0); norms and biases stay F32 as llama.cpp expects.
/// </summary>
public static class GgufExporter
{
    private const int RowsPerChunk = 64;

    /// <param name="progress">Receives the fraction (0..1) of tensor bytes written, as the file is written.</param>
    /// <param name="modelName">general.name; the architecture class name when null. llama.cpp matches this name against
    /// model families (a name containing "phi3" makes it look up Phi-3's special tokens, and refuse a vocabulary without them).</param>
    public static void Export(IWeightSource weights, ModelConfig config, string outPath, GgmlType type,
        IReadOnlyList<(string Key, object Value)>? tokenizerMetadata = null, IProgress<double>? progress = null,
        string? modelName = null)
    {
        if (type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0 or GgmlType.Q4_0))
            throw new ArgumentException($"Export to {type} is not supported (F32, F16, BF16, Q8_0, Q4_0).", nameof(type));
        var definition = ModelDefinition.For(config);
        definition.Validate(weights);
        string arch = GgufArchitecture(config);
        var writer = new GgufWriter();
        AddHyperParameters(writer, config, arch, type, modelName ?? config.Architecture);
        var tokenizerKeys = new HashSet<string>();
        foreach (var (key, value) in tokenizerMetadata ?? [])
        {
            // llama.cpp refuses a file whose token list and embedding rows disagree; say so at export time instead.
            if (key == GgufTokenizerKeys.Tokens && value is string[] tokens && tokens.Length != config.VocabSize)
                throw new ArgumentException($"The tokenizer has {tokens.Length} tokens but the model's vocab_size is {config.VocabSize}.", nameof(tokenizerMetadata));
            writer.Add(key, value);
            tokenizerKeys.Add(key);
        }
        if (config.BosTokenId is { } bos && tokenizerKeys.Add("tokenizer.ggml.bos_token_id")) writer.Add("tokenizer.ggml.bos_token_id", (uint)bos);
        if (config.EosTokenIds.Count > 0 && tokenizerKeys.Add("tokenizer.ggml.eos_token_id")) writer.Add("tokenizer.ggml.eos_token_id", (uint)config.EosTokenIds[0]);

        if (config.RopeScaling is { Type: "llama3" } scaling)
        {
            var freqs = GgufConfigReader.Llama3RopeFreqs(scaling, config.RopeTheta, config.HeadDim);
            writer.AddTensor(GgufTensorNames.RopeFreqs, GgmlType.F32, [freqs.Length], s => s.Write(MemoryMarshal.AsBytes(freqs.AsSpan())));
        }
        var expectedTensors = definition.Tensors;
        var written = new WrittenBytes(progress, expectedTensors.Sum(e => weights.Get(e.Name).ByteLength));
        foreach (var expected in expectedTensors)
        {
            var tensor = weights.Get(expected.Name);
            string name = GgufTensorNames.ToGguf(expected.Name, config.FusedGateUp)
                ?? throw new InvalidOperationException($"No llama.cpp name for '{expected.Name}'.");
            long[] dims = tensor.Shape.Reverse().ToArray();
            var storeAs = tensor.Shape.Length == 1 ? GgmlType.F32 : type;
            if (dims[0] % GgmlTypes.Block(storeAs)!.Value.Elements != 0)
                storeAs = GgmlType.F16; // rows that are not whole blocks cannot be quantized
            int permuteHeads = GgufTensorNames.IsRopePermuted(expected.Name, arch)
                ? (expected.Role == TensorRole.KProj ? config.NumKeyValueHeads : config.NumAttentionHeads)
                : 0;
            writer.AddTensor(name, storeAs, dims, s => WriteTensor(s, tensor, storeAs, permuteHeads, written));
        }
        writer.Write(outPath);
    }

    /// <summary>The llama.cpp architecture name: Mistral is written as llama.</summary>
    public static string GgufArchitecture(ModelConfig config) => config.ModelType switch
    {
        "llama" or "mistral" => "llama",
        "qwen2" or "qwen3" or "phi3" => config.ModelType,
        _ => throw new ArgumentException($"No GGUF architecture for model type '{config.ModelType}'."),
    };

    private static void AddHyperParameters(GgufWriter w, ModelConfig c, string arch, GgmlType type, string name)
    {
        w.Add("general.architecture", arch);
        w.Add("general.name", name);
        w.Add("general.file_type", FileType(type));
        if (type is GgmlType.Q8_0 or GgmlType.Q4_0) w.Add("general.quantization_version", 2u);
        w.Add($"{arch}.vocab_size", (uint)c.VocabSize);
        w.Add($"{arch}.context_length", (uint)c.MaxPositionEmbeddings);
        w.Add($"{arch}.embedding_length", (uint)c.HiddenSize);
        w.Add($"{arch}.feed_forward_length", (uint)c.IntermediateSize);
        w.Add($"{arch}.block_count", (uint)c.NumHiddenLayers);
        w.Add($"{arch}.attention.head_count", (uint)c.NumAttentionHeads);
        w.Add($"{arch}.attention.head_count_kv", (uint)c.NumKeyValueHeads);
        w.Add($"{arch}.attention.key_length", (uint)c.HeadDim);
        w.Add($"{arch}.attention.value_length", (uint)c.HeadDim);
        w.Add($"{arch}.attention.layer_norm_rms_epsilon", c.RmsNormEps);
        w.Add($"{arch}.rope.freq_base", (float)c.RopeTheta);
        w.Add($"{arch}.rope.dimension_count", (uint)c.HeadDim);
        // The checkpoint's own dtype: the CPU backend rounds RoPE frequencies to it, as transformers does.
        if (c.TorchDtype is { } dtype) w.Add(GgufConfigReader.LoomTorchDtype, dtype);
        if (c.SlidingWindow is { } window) w.Add($"{arch}.attention.sliding_window", (uint)window);
        if (c.RopeScaling is { } s)
        {
            if (s.Type == "linear")
            {
                w.Add($"{arch}.rope.scaling.type", "linear");
                w.Add($"{arch}.rope.scaling.factor", (float)s.Factor);
            }
            w.Add(GgufConfigReader.LoomRopePrefix + "type", s.Type);
            w.Add(GgufConfigReader.LoomRopePrefix + "factor", s.Factor);
            w.Add(GgufConfigReader.LoomRopePrefix + "low_freq_factor", s.LowFreqFactor);
            w.Add(GgufConfigReader.LoomRopePrefix + "high_freq_factor", s.HighFreqFactor);
            if (s.OriginalMaxPositionEmbeddings is { } original)
                w.Add(GgufConfigReader.LoomRopePrefix + "original_max_position_embeddings", (double)original);
        }
    }

    /// <summary>llama_ftype: the predominant tensor type.</summary>
    private static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0, GgmlType.F16 => 1, GgmlType.Q4_0 => 2, GgmlType.Q8_0 => 7, GgmlType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>Streams a tensor as <paramref name="storeAs"/>, a chunk of rows at a time (rows permuted first when asked).</summary>
    private static unsafe void WriteTensor(Stream stream, TensorInfo tensor, GgmlType storeAs, int permuteHeads, WrittenBytes written)
    {
        long rowLength = tensor.Shape[^1];
        long rows = tensor.ElementCount / Math.Max(1, rowLength);
        long sourceRowBytes = DTypes.ByteCount(tensor.DType, rowLength)!.Value;
        var source = new ReadOnlySpan<byte>(tensor.Data, checked((int)tensor.ByteLength));
        byte[]? permuted = null;
        if (permuteHeads > 0)
        {
            permuted = new byte[tensor.ByteLength];
            GgufTensorNames.PermuteRows(source, permuted, permuteHeads, sourceRowBytes, toGguf: true);
        }
        var block = GgmlTypes.Block(storeAs)!.Value;
        long outRowBytes = rowLength / block.Elements * block.Bytes;
        int chunkRows = (int)Math.Max(1, Math.Min(rows, RowsPerChunk));
        var floats = new float[chunkRows * rowLength];
        var output = new byte[chunkRows * outRowBytes];
        for (long r = 0; r < rows; r += chunkRows)
        {
            int n = (int)Math.Min(chunkRows, rows - r);
            var src = (permuted != null ? permuted.AsSpan() : source).Slice((int)(r * sourceRowBytes), (int)(n * sourceRowBytes));
            var values = floats.AsSpan(0, (int)(n * rowLength));
            GgmlQuants.Dequantize(tensor.DType, src, values);
            var dst = output.AsSpan(0, (int)(n * outRowBytes));
            switch (storeAs)
            {
                case GgmlType.F32: MemoryMarshal.AsBytes(values).CopyTo(dst); break;
                case GgmlType.F16: HalfConvert.F32ToF16(values, MemoryMarshal.Cast<byte, ushort>(dst)); break;
                case GgmlType.BF16: HalfConvert.F32ToBF16(values, MemoryMarshal.Cast<byte, ushort>(dst)); break;
                case GgmlType.Q8_0: GgmlQuants.QuantizeQ8_0(values, dst); break;
                case GgmlType.Q4_0: GgmlQuants.QuantizeQ4_0(values, dst); break;
            }
            stream.Write(dst);
            written.Add(n * sourceRowBytes);
        }
    }

    /// <summary>Source bytes converted so far, reported as a fraction of all of them.</summary>
    private sealed class WrittenBytes(IProgress<double>? progress, long total)
    {
        private long _done;

        public void Add(long bytes)
        {
            _done += bytes;
            progress?.Report(Math.Min(1.0, _done / (double)Math.Max(1, total)));
        }
    }
}
