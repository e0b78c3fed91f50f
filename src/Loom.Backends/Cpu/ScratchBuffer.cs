using System.Runtime.InteropServices;

namespace Loom.Backends.Cpu;

/// <summary>
/// A 64-byte aligned native float buffer that can grow (outside the hot path) and is freed deterministically.
/// Used for activations and scratch so kernels work on stable pointers without pinning.
/// </summary>
internal sealed unsafe class ScratchBuffer : IDisposable
{
    private const nuint Alignment = 64;

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
        Free();
        Pointer = (float*)NativeMemory.AlignedAlloc((nuint)length * sizeof(float), Alignment);
        Length = length;
    }

    private void Free()
    {
        if (Pointer != null) NativeMemory.AlignedFree(Pointer);
        Pointer = null;
        Length = 0;
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~ScratchBuffer() => Free();
}
