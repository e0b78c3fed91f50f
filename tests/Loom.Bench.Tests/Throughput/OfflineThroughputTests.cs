using Loom.Bench.Throughput;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Tests;

namespace Loom.Bench.Tests.Throughput;

/// <summary>The offline driver on the real engine: exact token counts even when the KV cache forces preemption.</summary>
public class OfflineThroughputTests
{
    [Fact]
    public void Counts_stay_exact_when_a_small_kv_cache_preempts_requests()
    {
        // 8 blocks of 16 tokens: four 24-token prompts fill them, so growing past 32 tokens must preempt someone.
        var engineOptions = new EngineOptions { KvCacheBytes = 8 * 16 * 3072, IdleSelfCheck = true };
        using var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", NumThreads = 1, Engine = engineOptions });
        var engine = LlmEngine.Create(model, engineOptions);
        var rng = new Random(3);
        var requests = Enumerable.Range(0, 4).Select(_ => new OfflineRequest([.. Enumerable.Range(0, 24).Select(_ => rng.Next(100, 1000))], 24)).ToArray();
        int done = 0;

        var result = new OfflineThroughput(engine).Run(requests, seed: 7, onRequestDone: () => done++);

        Assert.Equal(4, done);
        Assert.Equal(4, result.NumRequests);
        Assert.Equal(4 * 24, result.TotalOutputTokens);
        Assert.Equal(4 * 24, result.TotalPromptTokens); // a preempted prompt's recomputation is not counted twice
        Assert.True(result.NumPreemptions > 0, "the cache was sized to force preemption");
        Assert.False(engine.HasWork);
    }

    [Fact]
    public void Speculative_counters_of_the_run_reach_the_result_json()
    {
        var engineOptions = new EngineOptions
        {
            KvCacheBytes = 8 << 20, IdleSelfCheck = true,
            Speculative = new Engine.Speculative.SpeculativeConfig { NumSpeculativeTokens = 3, PromptLookupMin = 1, PromptLookupMax = 2 },
        };
        using var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", NumThreads = 1, Engine = engineOptions });
        var engine = LlmEngine.Create(model, engineOptions);
        // Repeating prompts, so prompt lookup has something to draft from.
        var requests = Enumerable.Range(0, 2).Select(i => new OfflineRequest([.. Enumerable.Repeat(new[] { 100 + i, 200, 300 }, 4).SelectMany(x => x)], 16)).ToArray();

        var result = new OfflineThroughput(engine).Run(requests, seed: 1);

        Assert.Equal(2 * 16, result.TotalOutputTokens); // speculation changes no count
        var spec = Assert.IsType<System.Text.Json.Nodes.JsonObject>(result.ToJson(new Dictionary<string, string>())["spec_decode"]);
        Assert.True((long)spec["num_draft_tokens"]! > 0);
        Assert.Equal(result.SpecDecoding!.NumAcceptedTokens, (long)spec["num_accepted_tokens"]!);
    }

    [Fact]
    public void A_cancelled_run_leaves_the_engine_empty()
    {
        var engineOptions = new EngineOptions { KvCacheBytes = 8 << 20 };
        using var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", NumThreads = 1, Engine = engineOptions });
        var engine = LlmEngine.Create(model, engineOptions);
        var requests = Enumerable.Range(0, 3).Select(i => new OfflineRequest([10 + i, 20, 30], 50)).ToArray();

        Assert.ThrowsAny<OperationCanceledException>(() => new OfflineThroughput(engine).Run(requests, onRequestDone: null, cancellationToken: CancelledToken()));
        Assert.False(engine.HasWork);
        Assert.Equal(3, new OfflineThroughput(engine).Run(requests).NumRequests); // and usable again
    }

    private static CancellationToken CancelledToken() => new(canceled: true);
}
