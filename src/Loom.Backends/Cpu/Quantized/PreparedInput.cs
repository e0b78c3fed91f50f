namespace Loom.Backends.Cpu.Quantized;

/// <summary>The quantized forms of a linear layer's input that its kernels read.</summary>
[Flags]
internal enum InputForms
{
    /// <summary>The float rows themselves (dense and half-precision weights).</summary>
    None = 0,
    /// <summary>Q8 per 32 values (<see cref="Q8Activations"/>): the 32-value block types.</summary>
    Q8 = 1,
    /// <summary>Q8_K per 256 values (<see cref="Q8KActivations"/>): the K-quants.</summary>
    Q8K = 2,
}

/// <summary>
/// One input [numTokens, n] quantized once for every layer of a parallel region that reads it (q/k/v, gate/up, each
/// split into row ranges), instead of once per row range in that range's thread: each token is a work item, so the
/// threads of the pool share the quantizing too. The quantization is the one the kernels do alone
/// (<see cref="Q8Activations.QuantizeRow"/>, <see cref="Q8KActivations.QuantizeRow"/>), so the outputs keep their bits.
/// Reused across launches: preparing allocates nothing once the buffers have grown to the largest input.
/// </summary>
internal sealed unsafe class PreparedInput : IParallelWork
{
    private InputForms _forms;
    private int _n;

    /// <summary>[NumTokens, XStride] float rows, as given.</summary>
    public float* X { get; private set; }
    public int XStride { get; private set; }
    public int NumTokens { get; private set; }

    /// <summary>The Q8 form, valid after <see cref="Prepare"/> asked for <see cref="InputForms.Q8"/>.</summary>
    public Q8Activations Q8 { get; } = new();

    /// <summary>The Q8_K form, valid after <see cref="Prepare"/> asked for <see cref="InputForms.Q8K"/>.</summary>
    public Q8KActivations Q8K { get; } = new();

    /// <summary>Quantizes rows of <paramref name="n"/> values into <paramref name="forms"/>, the tokens spread over <paramref name="pool"/>.</summary>
    public void Prepare(WorkerPool pool, float* x, int xStride, int numTokens, int n, InputForms forms)
    {
        X = x;
        XStride = xStride;
        NumTokens = numTokens;
        _forms = forms;
        _n = n;
        if ((forms & InputForms.Q8) != 0) Q8.Reserve(numTokens, n);
        if ((forms & InputForms.Q8K) != 0) Q8K.Reserve(numTokens, n);
        if (forms != InputForms.None) pool.For(numTokens, this, (long)numTokens * n);
    }

    public void Execute(int index, int worker)
    {
        float* row = X + (long)index * XStride;
        if ((_forms & InputForms.Q8) != 0) Q8.QuantizeToken(row, index, _n);
        if ((_forms & InputForms.Q8K) != 0) Q8K.QuantizeToken(row, index, _n);
    }
}
