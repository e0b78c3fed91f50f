using System.Runtime.InteropServices;

namespace Loom.Backends.Cpu;

/// <summary>
/// Native memory for weights repacked at load. Decode streams every weight byte once per token, so a 4 KB page is a
/// TLB miss (a two-dimensional page walk in a VM) every 4 KB per thread, and the hardware prefetchers stop at each
/// 4 KB page boundary. A buffer of at least one huge page is therefore aligned to 2 MiB and marked MADV_HUGEPAGE, so
/// that with transparent huge pages in "madvise" mode (the common default) its whole 2 MiB pages are huge ones. The
/// length is not rounded up: the tail beyond the last whole 2 MiB stays in small pages rather than waste memory.
/// </summary>
internal static unsafe class WeightMemory
{
    /// <summary>The x86-64 transparent huge page.</summary>
    public const long HugePageBytes = 2L << 20;

    /// <summary><paramref name="bytes"/> uninitialised bytes, at least 64-byte aligned; free with <see cref="Free"/>.</summary>
    public static void* Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        bool huge = bytes >= HugePageBytes && OperatingSystem.IsLinux();
        void* p = NativeMemory.AlignedAlloc((nuint)bytes, huge ? (nuint)HugePageBytes : 64);
        if (huge) AdviseHugePages(p, bytes);
        return p;
    }

    public static void Free(void* p) => NativeMemory.AlignedFree(p);

    /// <summary>A hint only: an old kernel, THP "never" or a libc without madvise leaves small pages, which still work.</summary>
    private static void AdviseHugePages(void* p, long bytes)
    {
        try
        {
            _ = NativeMethods.Madvise((nint)p, (nuint)(bytes / HugePageBytes * HugePageBytes), NativeMethods.MadvHugePage);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // not a glibc/musl Linux: small pages
        }
    }
}
