using Loom.Backends.Cpu;

namespace Loom.Backends.Tests.Cpu;

public unsafe class WeightMemoryTests
{
    [Fact]
    public void Allocate_AHugePageOrMore_IsHugePageAligned_AndWholelyUsable()
    {
        long bytes = WeightMemory.HugePageBytes + 12345; // a whole huge page and a small-page tail
        byte* p = (byte*)WeightMemory.Allocate(bytes);
        try
        {
            if (OperatingSystem.IsLinux()) Assert.Equal(0, (long)p % WeightMemory.HugePageBytes);
            Assert.Equal(0, (long)p % 64);
            for (long i = 0; i < bytes; i++) p[i] = (byte)i;
            for (long i = 0; i < bytes; i += 4099) Assert.Equal((byte)i, p[i]);
            Assert.Equal((byte)(bytes - 1), p[bytes - 1]);
        }
        finally
        {
            WeightMemory.Free(p);
        }
    }

    [Fact]
    public void Allocate_BelowAHugePage_IsCacheLineAligned()
    {
        byte* p = (byte*)WeightMemory.Allocate(1000);
        try
        {
            Assert.Equal(0, (long)p % 64);
            new Span<byte>(p, 1000).Fill(7);
            Assert.Equal(7, p[999]);
        }
        finally
        {
            WeightMemory.Free(p);
        }
    }
}
