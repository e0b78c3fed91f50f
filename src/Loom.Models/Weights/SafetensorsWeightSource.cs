using System.Text.Json;

namespace Loom.Models.Weights;

/// <summary>
/// Tensors of a Hugging Face safetensors checkpoint, memory-mapped read-only (no copies): a single
/// model.safetensors, or shards listed by model.safetensors.index.json. Every header is validated against its file
/// before use, so a tensor's bytes always lie inside its file. Tensors are valid until Dispose.
/// </summary>
public sealed unsafe class SafetensorsWeightSource : IWeightSource
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<MappedFile> _files;
    private readonly Dictionary<string, TensorInfo> _tensors;
    private bool _disposed;

    /// <summary>The model directory or file this was opened from (for messages).</summary>
    public string Source { get; }
    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;
    /// <summary>The __metadata__ of the (first) file, e.g. {"format": "pt"}.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsWeightSource(string source, List<MappedFile> files, Dictionary<string, TensorInfo> tensors,
        IReadOnlyDictionary<string, string> metadata)
    {
        Source = source;
        _files = files;
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Opens the checkpoint in <paramref name="modelDir"/>: the index's shards if an index exists, else model.safetensors.</summary>
    public static SafetensorsWeightSource Open(string modelDir)
    {
        if (!Directory.Exists(modelDir)) throw new ModelLoadException($"Model directory not found: {modelDir}");
        string index = Path.Combine(modelDir, IndexFileName);
        if (Path.Exists(index)) return OpenSharded(modelDir, index);
        string single = Path.Combine(modelDir, SingleFileName);
        if (Path.Exists(single)) return OpenFile(single);
        throw new ModelLoadException($"No {SingleFileName} or {IndexFileName} in {modelDir}.");
    }

    /// <summary>Opens one .safetensors file (a checkpoint, or any other tensor file such as golden outputs).</summary>
    public static SafetensorsWeightSource OpenFile(string path)
    {
        var file = MappedFile.Open(path, minLength: 8);
        try
        {
            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            var metadata = AddTensors(file, tensors, path);
            return new SafetensorsWeightSource(path, [file], tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public TensorInfo Get(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _tensors.TryGetValue(name, out var t)
            ? t
            : throw new ModelLoadException($"Tensor '{name}' not found in checkpoint {Source}.");
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var f in _files) f.Dispose();
    }

    private static IReadOnlyDictionary<string, string> AddTensors(MappedFile file, Dictionary<string, TensorInfo> into, string shownPath)
    {
        var header = SafetensorsHeader.Parse(file.Pointer, file.Length, shownPath);
        foreach (var e in header.Entries)
        {
            if (into.TryGetValue(e.Name, out var existing))
                throw new ModelLoadException($"{shownPath}: tensor '{e.Name}' is also stored in {existing.File}.");
            into[e.Name] = new TensorInfo(e.Name, e.DType, e.Shape, file.Pointer + header.DataStart + e.Begin, e.End - e.Begin, shownPath);
        }
        return header.Metadata;
    }

    private static SafetensorsWeightSource OpenSharded(string modelDir, string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var files = new List<MappedFile>();
        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        IReadOnlyDictionary<string, string>? metadata = null;
        try
        {
            foreach (string shard in weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                string shardPath = Path.Combine(modelDir, shard);
                if (!Path.Exists(shardPath))
                    throw new ModelLoadException($"{indexPath}: shard '{shard}' is listed in weight_map but the file does not exist.");
                var file = MappedFile.Open(shardPath, minLength: 8);
                files.Add(file);
                var shardMetadata = AddTensors(file, tensors, shardPath);
                metadata ??= shardMetadata;
            }
            foreach (var (name, shard) in weightMap)
            {
                if (!tensors.TryGetValue(name, out var t) || Path.GetFileName(t.File) != shard)
                    throw new ModelLoadException($"{indexPath}: tensor '{name}' is mapped to shard '{shard}' but that shard does not contain it.");
            }
            return new SafetensorsWeightSource(modelDir, files, tensors, metadata ?? new Dictionary<string, string>());
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>weight_map of the index: tensor name to shard file name (a bare file name inside the model directory).</summary>
    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        using (var doc = Config.ConfigJson.Parse(indexPath))
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException($"{indexPath}: missing 'weight_map' object.");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new ModelLoadException($"{indexPath}: weight_map entry for tensor '{entry.Name}' is not a file name.");
                string shard = entry.Value.GetString()!;
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new ModelLoadException($"{indexPath}: tensor '{entry.Name}' names shard '{shard}', which is not a file name in the model directory.");
                if (!result.TryAdd(entry.Name, shard))
                    throw new ModelLoadException($"{indexPath}: tensor '{entry.Name}' appears twice in weight_map.");
            }
            if (result.Count == 0) throw new ModelLoadException($"{indexPath}: weight_map is empty.");
            return result;
        }
    }
}
