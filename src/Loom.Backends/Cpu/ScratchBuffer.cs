using Loom.Models.Weights;

namespace Loom.Backends.Cpu;

/// <summary>
/// A 64-byte aligned native float buffer that can grow (outside the hot path) and is freed deterministically; the
/// memory is held by a SafeHandle (<see cref="NativeBuffer"/>), so a forgotten Dispose still frees it.
/// Used for activations and scratch so kernels work on stable pointers without pinning.
/// </summary>
internal sealed unsafe class ScratchBuffer : IDisposable
{
    private NativeBuffer? _memory;

    public float* Pointer { get; private set; }
    public long Length { get; private set; }

    public ScratchBuffer(long length = 0) => EnsureCapacity(length);

    public Span<float> Span => new(Pointer, checked((int)Length));

    public Span<float> Slice(long start, int length)
    {
        if (start < 0 || length < 0 || start + length > Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"[{start}, {start + length}) is outside a buffer of {Length}");
        return new Span<float>(Pointer + start, length);
    }

    /// <summary>Grows to at least <paramref name="length"/> floats; the contents are not preserved.</summary>
    public void EnsureCapacity(long length)
    {
        if (length <= Length) return;
        Dispose();
        _memory = new NativeBuffer(length * sizeof(float));
        Pointer = (float*)_memory.Pointer;
        Length = length;
    }

    public void Dispose()
    {
        _memory?.Dispose();
        _memory = null;
        Pointer = null;
        Length = 0;
    }
}
