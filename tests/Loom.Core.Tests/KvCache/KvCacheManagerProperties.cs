using CsCheck;
using Loom.Core.KvCache;
using Loom.Core.Requests;
using Loom.Core.Sampling;

namespace Loom.Core.Tests.KvCache;

/// <summary>
/// Random sequences of admit (with prefix-cache lookup), fork (n &gt; 1 sharing), append/compute, free and abort on a
/// small pool, so that cached blocks are revived and evicted constantly. A fake KV store records which token each slot
/// holds, so a hit that serves the wrong content, or a block handed out while referenced, is caught.
/// </summary>
public class KvCacheManagerProperties
{
    private enum OpKind { Admit, Fork, Compute, Free }

    private readonly record struct Op(OpKind Kind, int A, int B);

    private static readonly Gen<Op> GenOp =
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, 1000], Gen.Int[0, 1000], (k, a, b) => new Op((OpKind)k, a, b));

    // Three prompt "families" over a tiny alphabet so prefixes repeat and blocks collide.
    private static readonly int[][] Bases = [.. Enumerable.Range(0, 3).Select(f => Enumerable.Range(0, 64).Select(i => (i * (f + 2) + f) % 5).ToArray())];

    [Fact]
    public void RandomOperationsKeepPoolConsistentAndReturnEveryBlock()
    {
        Gen.Select(Gen.Int[1, 6], Gen.Int[4, 40], Gen.Bool, GenOp.Array[1, 80])
            .Sample((blockSize, numBlocks, caching, ops) => Run(blockSize, numBlocks, caching, ops), iter: 300, threads: 1);
    }

    private static void Run(int blockSize, int numBlocks, bool caching, Op[] ops)
    {
        var kv = new KvCacheManager(numBlocks, blockSize, caching);
        var store = new int[numBlocks * blockSize];
        var live = new List<Request>();
        int nextId = 0;
        foreach (var op in ops)
        {
            switch (op.Kind)
            {
                case OpKind.Admit:
                    var prompt = Bases[op.A % 3][..(1 + op.B % 40)];
                    Admit(new Request($"r{nextId++}", prompt, new SamplingParams { MaxTokens = 64 }), op.B);
                    break;
                case OpKind.Fork when live.Count > 0:
                    var source = live[op.A % live.Count];
                    Admit(new Request($"r{nextId++}", source.PromptTokenIds, new SamplingParams { MaxTokens = 64 }) { ForkSource = source, SampleIndex = 1 }, op.B);
                    break;
                case OpKind.Compute when live.Count > 0:
                    var request = live[op.A % live.Count];
                    if (request.NumComputedTokens == request.NumTokens) request.AppendOutputToken(op.B % 5);
                    Compute(request, 1 + op.B % 8);
                    break;
                case OpKind.Free when live.Count > 0: // a finish or an abort: identical for the cache
                    var freed = live[op.A % live.Count];
                    kv.Free(freed);
                    live.Remove(freed);
                    break;
            }
            kv.CheckConsistency();
            foreach (var r in live) CheckHashChain(kv, r);
        }
        foreach (var r in live) kv.Free(r);
        kv.CheckIdle();
        Assert.Equal(numBlocks, kv.Pool.NumFreeBlocks);

        void Admit(Request request, int chunkSeed)
        {
            var computed = kv.GetComputedBlocks(request);
            int free = kv.Pool.NumFreeBlocks;
            int chunk = Math.Min(request.NumTokens - computed.NumTokens, 1 + chunkSeed % 16);
            if (!kv.TryAllocateSlots(request, chunk, computed))
            {
                Assert.Equal(free, kv.Pool.NumFreeBlocks);
                Assert.Equal(0, kv.NumBlocksOf(request));
                return;
            }
            request.NumComputedTokens = computed.NumTokens;
            live.Add(request);
            RunTokens(request, chunk);
        }

        void Compute(Request request, int maxChunk)
        {
            int chunk = Math.Min(request.NumTokens - request.NumComputedTokens, maxChunk);
            if (kv.TryAllocateSlots(request, chunk)) RunTokens(request, chunk);
        }

        // The fake forward: check every cached position reads this request's own token, then write the new ones.
        void RunTokens(Request request, int count)
        {
            var table = kv.GetBlockIds(request);
            var tokens = request.AllTokenIds;
            int start = request.NumComputedTokens;
            for (int p = 0; p < start; p++)
                Assert.Equal(tokens[p], store[table[p / blockSize] * blockSize + p % blockSize]);
            for (int p = start; p < start + count; p++)
            {
                var block = kv.Pool[table[p / blockSize]];
                Assert.True(block.Hash is null, $"writing into cached block {block.BlockId}");
                store[block.BlockId * blockSize + p % blockSize] = tokens[p];
            }
            request.NumComputedTokens = start + count;
            kv.CacheComputedBlocks(request);
        }
    }

    /// <summary>Every cached block a request holds carries the chain hash of that request's own tokens up to it.</summary>
    private static void CheckHashChain(KvCacheManager kv, Request request)
    {
        var blocks = kv.GetBlocks(request);
        var parent = BlockHash.Root;
        for (int i = 0; i < blocks.Count && (i + 1) * kv.BlockSize <= request.NumTokens; i++)
        {
            var expected = BlockHash.Compute(parent, request.AllTokenIds.Slice(i * kv.BlockSize, kv.BlockSize));
            if (blocks[i].Hash is { } h) Assert.Equal(expected, h);
            parent = expected;
        }
    }
}
