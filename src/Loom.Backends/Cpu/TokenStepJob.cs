using Loom.Models.Definition;

namespace Loom.Backends.Cpu;

/// <summary>
/// The layer steps that work on each token alone (norms, RoPE, the KV write, residual adds, SiLU·mul), as one parallel
/// region over ranges of the batch's tokens. A 128-token BF16 prompt spends 5–6 % of its time in them (timed per step
/// at two threads), which the second thread did not share while they ran on the caller; a decode step of a few tokens
/// stays on the caller (below <see cref="WorkerPool.MinParallelWork"/>). Each token's bits are the same however tokens are split.
/// Reused across calls, so launching it allocates nothing.
/// </summary>
internal sealed class TokenStepJob(WorkerPool pool, TokenStepJob.IRunner runner) : IParallelWork
{
    /// <summary>Runs one step over tokens [start, end); called concurrently on disjoint ranges.</summary>
    internal interface IRunner
    {
        void RunTokens(LayerStep step, CpuLayerWeights weights, int layer, ForwardBatch batch, int start, int end);
    }

    private LayerStep _step;
    private CpuLayerWeights? _weights;
    private int _layer;
    private ForwardBatch? _batch;
    private int _numTokens;
    private int _numItems;

    /// <param name="workPerToken">Rough operations per token, so that small batches stay on the calling thread.</param>
    public void Run(LayerStep step, CpuLayerWeights weights, int layer, ForwardBatch batch, long workPerToken)
    {
        (_step, _weights, _layer, _batch) = (step, weights, layer, batch);
        _numTokens = batch.NumTokens;
        // Two items per thread: the tokens cost the same, so more would only add hand-offs.
        _numItems = Math.Min(_numTokens, pool.NumThreads * 2);
        pool.For(_numItems, this, workPerToken * _numTokens);
        (_weights, _batch) = (null, null);
    }

    public void Execute(int index, int worker)
    {
        int start = (int)((long)_numTokens * index / _numItems);
        int end = (int)((long)_numTokens * (index + 1) / _numItems);
        runner.RunTokens(_step, _weights!, _layer, _batch!, start, end);
    }
}
