namespace Loom.Backends.Tests.Cpu;

/// <summary>y = x W^T through <see cref="Loom.Backends.Cpu.CpuLinear.ComputeRows(float*, int, int, float*, int, int, int)"/>
/// in two row ranges split unevenly at row 3 (cutting a group of eight), the way worker threads see them.</summary>
internal static unsafe class SplitRowsRunner
{
    public static float[] Run(Loom.Backends.Cpu.CpuLinear linear, float[] x, int numTokens)
    {
        var y = new float[numTokens * linear.OutFeatures];
        fixed (float* px = x)
        fixed (float* py = y)
        {
            int mid = Math.Min(linear.OutFeatures, 3);
            linear.ComputeRows(px, linear.InFeatures, numTokens, py, linear.OutFeatures, 0, mid);
            linear.ComputeRows(px, linear.InFeatures, numTokens, py, linear.OutFeatures, mid, linear.OutFeatures);
        }
        return y;
    }
}
