using CsCheck;
using Loom.Core.KvCache;
using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Core.Tests.Scheduling;

namespace Loom.Core.Tests.KvCache;

/// <summary>
/// The KV cache manager's event stream is the cache: replaying every event drained so far reproduces the set of
/// cached hashes (and each one's parent) after every step of random shared-prefix workloads on tiny caches, where
/// evictions, preemptions, aborts, prefix-cache resets and forks all happen.
/// </summary>
public class KvCacheEventProperties
{
    private sealed record Spec(int Family, int SharedLength, int OwnLength, int MaxTokens, int N, int ArriveAt, int AbortAt);

    private sealed record Scenario(int BlockSize, int Budget, int ExtraBlocks, int ResetAt, Spec[] Requests);

    private static readonly Gen<Spec> GenSpec = Gen.Select(Gen.Int[0, 3], Gen.Int[0, 24], Gen.Int[1, 12], Gen.Int[1, 8], Gen.Int[1, 2],
        Gen.Int[0, 20], Gen.Int[-30, 30], (f, shared, own, m, n, arrive, abort) => new Spec(f, shared, own, m, n, arrive, abort));

    private static readonly Gen<Scenario> GenScenario = Gen.Select(Gen.Int[1, 4], Gen.Int[4, 48], Gen.Int[0, 10], Gen.Int[-10, 30], GenSpec.Array[1, 14],
        (bs, budget, extra, reset, specs) => new Scenario(bs, budget, extra, reset, specs));

    [Fact]
    public void ReplayingTheEventsReproducesTheCachedHashSetAtEveryStep()
    {
        GenScenario.Sample(Run, iter: 200, threads: 1);
    }

    [Fact]
    public void ResettingAnIdleCacheIsOneAllBlocksCleared()
    {
        var scheduler = new Scheduler(Config(blockSize: 2, numBlocks: 16, budget: 32));
        var log = scheduler.KvCache.EnableEvents();
        scheduler.AddRequest(new Request("a", [1, 2, 3, 4, 5, 6, 7], new SamplingParams { MaxTokens = 2 }));
        new SimulatedEngine(scheduler).RunToCompletion();
        Assert.True(log.TryTake(out var stored));
        Assert.All(stored, e => Assert.IsType<BlockStored>(e));
        scheduler.KvCache.ResetPrefixCache();
        Assert.True(log.TryTake(out var cleared));
        Assert.Equal([AllBlocksCleared.Instance], cleared);
        Assert.False(log.TryTake(out _));
    }

    [Fact]
    public void AnEvictionIsABlockRemovedOfTheEvictedHashes()
    {
        var scheduler = new Scheduler(Config(blockSize: 2, numBlocks: 4, budget: 32));
        var log = scheduler.KvCache.EnableEvents();
        var engine = new SimulatedEngine(scheduler);
        scheduler.AddRequest(new Request("a", [1, 2, 3, 4, 5, 6, 7], new SamplingParams { MaxTokens = 1 }));
        engine.RunToCompletion();
        Assert.True(log.TryTake(out var first));
        var storedA = first.OfType<BlockStored>().SelectMany(e => e.BlockHashes).ToHashSet();
        Assert.Equal(3, storedA.Count);
        scheduler.AddRequest(new Request("b", [9, 8, 7, 6, 5, 4, 3], new SamplingParams { MaxTokens = 1 }));
        engine.RunToCompletion();
        Assert.True(log.TryTake(out var second));
        var removed = second.OfType<BlockRemoved>().SelectMany(e => e.BlockHashes).ToHashSet();
        Assert.NotEmpty(removed);
        Assert.Subset(storedA, removed);
        Assert.IsType<BlockRemoved>(second[0]); // evicted while scheduling, before b's own blocks were stored
    }

    private static SchedulerConfig Config(int blockSize, int numBlocks, int budget) => new()
    {
        BlockSize = blockSize,
        NumBlocks = numBlocks,
        MaxNumBatchedTokens = budget,
        MaxNumSeqs = 4,
        EnableChunkedPrefill = true,
        EnablePrefixCaching = true,
        MaxModelLen = 128,
    };

    private static void Run(Scenario s)
    {
        int maxTotal = s.Requests.Max(r => r.SharedLength + r.OwnLength + r.MaxTokens);
        var scheduler = new Scheduler(Config(s.BlockSize, (maxTotal + s.BlockSize - 1) / s.BlockSize + s.ExtraBlocks, s.Budget));
        var log = scheduler.KvCache.EnableEvents();
        var engine = new SimulatedEngine(scheduler);
        var replayed = new Dictionary<BlockHash, BlockHash?>();
        var added = new List<(Request Request, int AbortAt)>();
        var pending = s.Requests.Select((spec, i) => (spec, i)).ToList();
        while (pending.Count > 0 || scheduler.HasUnfinishedRequests)
        {
            Assert.True(engine.Steps < 20_000, "no progress");
            foreach (var (spec, i) in pending.Where(p => p.spec.ArriveAt <= engine.Steps).ToList())
            {
                Add(scheduler, spec, i, added);
                pending.Remove((spec, i));
            }
            foreach (var (request, abortAt) in added)
                if (abortAt == engine.Steps && !request.IsFinished) scheduler.FinishRequest(request.RequestId, RequestStatus.FinishedAborted);
            if (s.ResetAt == engine.Steps) scheduler.KvCache.ResetPrefixCache();
            CheckReplay(log, replayed, scheduler.KvCache.Pool);
            engine.Step(); // also when empty: arrivals wait for their step
            CheckReplay(log, replayed, scheduler.KvCache.Pool);
        }
        scheduler.KvCache.ResetPrefixCache(); // idle: everything goes, as one AllBlocksCleared
        CheckReplay(log, replayed, scheduler.KvCache.Pool);
        Assert.Empty(replayed);
    }

    private static void Add(Scheduler scheduler, Spec spec, int i, List<(Request, int)> added)
    {
        // Prompts of one family share their first SharedLength tokens: prefix-cache hits across requests.
        var prompt = Enumerable.Range(0, spec.SharedLength).Select(p => 20 + (p * (spec.Family + 3) + spec.Family) % 11)
            .Concat(Enumerable.Range(0, spec.OwnLength).Select(p => 40 + (p * 7 + i) % 13)).ToArray();
        var parameters = new SamplingParams { MaxTokens = spec.MaxTokens };
        var leader = new Request($"r{i}", prompt, parameters);
        scheduler.AddRequest(leader);
        added.Add((leader, spec.AbortAt));
        for (int k = 1; k < spec.N; k++)
        {
            var sibling = new Request($"r{i}#{k}", prompt, parameters) { ForkSource = leader, SampleIndex = k };
            scheduler.AddRequest(sibling);
            added.Add((sibling, -1));
        }
    }

    /// <summary>Applies the drained events to the replica and compares it with the pool's cache map, parents included.</summary>
    private static void CheckReplay(KvCacheEventLog log, Dictionary<BlockHash, BlockHash?> replayed, BlockPool pool)
    {
        if (log.TryTake(out var events))
            foreach (var e in events) Apply(e, replayed);
        var actual = pool.CachedBlocks().ToDictionary(b => b.BlockHash, b => b.ParentBlockHash);
        Assert.Equal(actual.Count, pool.NumCachedBlocks);
        Assert.Equal(actual.OrderBy(p => p.Key.Value), replayed.OrderBy(p => p.Key.Value));
    }

    private static void Apply(KvCacheEvent e, Dictionary<BlockHash, BlockHash?> replayed)
    {
        switch (e)
        {
            case BlockStored stored:
                Assert.Equal(stored.BlockHashes.Length * stored.BlockSize, stored.TokenIds.Length);
                var parent = stored.ParentBlockHash;
                for (int i = 0; i < stored.BlockHashes.Length; i++)
                {
                    var hash = stored.BlockHashes[i];
                    // The hash names the block's tokens after its parent, as a router computes it from a prompt.
                    var tokens = stored.TokenIds.AsSpan(i * stored.BlockSize, stored.BlockSize);
                    Assert.Equal(BlockHash.Compute(parent ?? BlockHash.Root, tokens), hash);
                    Assert.True(replayed.TryAdd(hash, parent), $"block {hash} stored twice");
                    parent = hash;
                }
                break;
            case BlockRemoved removed:
                foreach (var hash in removed.BlockHashes) Assert.True(replayed.Remove(hash), $"block {hash} removed but not stored");
                break;
            case AllBlocksCleared:
                replayed.Clear();
                break;
        }
    }
}
