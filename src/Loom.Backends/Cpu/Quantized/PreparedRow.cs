using System.Runtime.CompilerServices;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// Weight super-blocks unpacked by <see cref="ISuperBlock.Prepare"/>, the form <see cref="InterleavedSuperBlocks"/> repacks
/// from at load: a per-thread scratch that grows to the longest row.
/// </summary>
internal sealed unsafe class PreparedRow
{
    [ThreadStatic] private static PreparedRow? t_instance;

    private byte[] _q = [];         // [n] unsigned weights
    private short[] _scales = [];   // [n / 2]: per super-block 8 chunks x 16 lanes
    private short[] _offsets = [];  // [n / 16]
    private float[] _d = [];        // [n / 256]
    private float[] _dmin = [];     // [n / 256]
    private int _blocks;

    public static PreparedRow ForThisThread(int n)
    {
        var row = t_instance ??= new PreparedRow();
        if (row._q.Length < n)
        {
            row._q = GC.AllocateUninitializedArray<byte>(n, pinned: true);
            row._scales = GC.AllocateUninitializedArray<short>(n / 2, pinned: true);
            row._offsets = GC.AllocateUninitializedArray<short>(n / 16, pinned: true);
            row._d = GC.AllocateUninitializedArray<float>(n / 256, pinned: true);
            row._dmin = GC.AllocateUninitializedArray<float>(n / 256, pinned: true);
        }
        row._blocks = n / 256;
        return row;
    }

    public byte* Q => (byte*)Unsafe.AsPointer(ref _q[0]);
    public short* Scales => (short*)Unsafe.AsPointer(ref _scales[0]);
    public short* Offsets => (short*)Unsafe.AsPointer(ref _offsets[0]);
    public float* D => (float*)Unsafe.AsPointer(ref _d[0]);
    public float* DMin => (float*)Unsafe.AsPointer(ref _dmin[0]);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Prepare<TBlock>(byte* row) where TBlock : struct, ISuperBlock
    {
        byte* q = Q;
        short* scales = Scales, offsets = Offsets;
        float* d = D, dmin = DMin;
        for (int b = 0; b < _blocks; b++)
            TBlock.Prepare(row + (long)b * TBlock.BlockBytes, q + b * 256, scales + b * 128, offsets + b * 16, out d[b], out dmin[b]);
    }
}
