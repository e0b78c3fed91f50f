using Loom.Backends.Cpu.Native;

namespace Loom.Backends.Tests.Cpu;

/// <summary>When the native kernel library should have been built and loaded for the tests that check it did.</summary>
internal static class NativeKernelBuild
{
    /// <summary>
    /// Skips unless this process should have the library: not turned off by <see cref="NativeCpuKernels.DisableVariable"/>,
    /// on Linux with a C compiler on PATH (as the build that ran these tests had, so the build compiled it).
    /// </summary>
    public static void SkipUnlessExpected()
    {
        Skip.If(Environment.GetEnvironmentVariable(NativeCpuKernels.DisableVariable) is "off" or "0", "turned off by the environment");
        bool compiler = new[] { "cc", "gcc", "clang" }.Any(c => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Any(dir => File.Exists(Path.Combine(dir, c))));
        Skip.If(!compiler || !OperatingSystem.IsLinux(), "no C compiler on Linux here: the native kernels are not built");
    }
}
