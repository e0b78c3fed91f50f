using System.Runtime.InteropServices;

namespace Loom.Models.Weights;

/// <summary>A 64-byte-aligned native allocation owned by a SafeHandle (freed on Dispose, or by the finalizer if forgotten).</summary>
public sealed unsafe class NativeBuffer : SafeHandle
{
    public long Length { get; }

    public NativeBuffer(long length) : base(IntPtr.Zero, ownsHandle: true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        SetHandle((IntPtr)NativeMemory.AlignedAlloc((nuint)Math.Max(length, 1), 64));
    }

    public byte* Pointer => (byte*)handle;

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
