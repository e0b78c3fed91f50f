using System.Runtime.InteropServices;

namespace Loom.Backends.Cpu;

/// <summary>The libc calls of the CPU backend (Linux only; callers check the platform and treat failure as a hint not taken).</summary>
internal static partial class NativeMethods
{
    /// <summary>MADV_HUGEPAGE: back the range with transparent huge pages where the kernel allows it.</summary>
    public const int MadvHugePage = 14;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint address, nuint length, int advice);
}
