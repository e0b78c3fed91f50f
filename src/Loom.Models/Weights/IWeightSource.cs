namespace Loom.Models.Weights;

/// <summary>
/// Named tensors of a checkpoint (safetensors, GGUF, or generated dummy weights).
/// Owns the underlying memory (memory maps or native buffers); tensors are valid until Dispose.
/// </summary>
public interface IWeightSource : IDisposable
{
    IReadOnlyDictionary<string, TensorInfo> Tensors { get; }

    /// <summary>The tensor, or an exception naming the tensor and the checkpoint when it is missing.</summary>
    TensorInfo Get(string name);

    bool Contains(string name) => Tensors.ContainsKey(name);
}
