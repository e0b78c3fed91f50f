using Loom.Core.Sampling;
using Loom.Engine.KvTransfer;

namespace Loom.Engine.Tests.Engine;

/// <summary>
/// Prefill/decode disaggregation inside one process: a prefill engine holds a do_remote_decode request's blocks, a
/// decode engine pulls what its own cache lacks (through a fetcher that calls the prefill engine directly) and decodes;
/// greedy output equals one engine doing both, leases end on pull or timeout, and failed pulls fail or recompute.
/// </summary>
public class DisaggregationTests
{
    private static FixtureModel Model => FixtureModel.Get("llama-gqa");
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 8, IgnoreEos = true };
    private static EngineOptions Options => new() { BlockSize = 16, MaxNumBatchedTokens = 256 };

    [Fact]
    public void PrefillThenDecodeEqualsOneEngineAndReleasesTheLease()
    {
        var prompt = Model.Prompt(45, seed: 11); // 44 tokens pulled: two full blocks and a partial one
        using var prefill = Model.CreateEngine(Options, numBlocks: 32);
        using var decode = Model.CreateEngine(Options, numBlocks: 32);
        var fetcher = new DirectFetcher(prefill.Engine);
        decode.Engine.KvFetcher = fetcher;

        var source = Prefill(prefill, "r", prompt);
        Assert.Equal(1, prefill.Engine.NumHeldRequests);
        decode.Engine.AddRequest(new EngineRequest("r", prompt, Greedy) { KvTransfer = new() { RemotePrefill = source } });
        decode.RunToCompletion();

        Assert.Equal(SingleEngine(prompt), decode.Tokens["r"]);
        Assert.Equal([source.BlockIds[0], source.BlockIds[1], source.BlockIds[2]], fetcher.Pulled.Single());
        Assert.Equal(0, prefill.Engine.NumHeldRequests);
        Assert.Equal(0, prefill.Engine.GetStats().NumBlocksUsed);
    }

    [Fact]
    public void TheDecodersOwnPrefixCacheShrinksThePull()
    {
        var shared = Model.Prompt(32, seed: 21);
        int[] prompt = [.. shared, .. Model.Prompt(13, seed: 22)];
        using var prefill = Model.CreateEngine(Options, numBlocks: 32);
        using var decode = Model.CreateEngine(Options, numBlocks: 32);
        var fetcher = new DirectFetcher(prefill.Engine);
        decode.Engine.KvFetcher = fetcher;
        decode.Add("warm", [.. shared, 5, 6, 7], Greedy);
        decode.RunToCompletion();

        var source = Prefill(prefill, "r", prompt);
        decode.Engine.AddRequest(new EngineRequest("r", prompt, Greedy) { KvTransfer = new() { RemotePrefill = source } });
        decode.RunToCompletion();

        Assert.Equal(SingleEngine(prompt), decode.Tokens["r"]);
        Assert.Equal([source.BlockIds[2]], fetcher.Pulled.Single()); // blocks 0-1 were the decoder's own hits
        Assert.Equal(32, decode.CachedPromptTokens["r"]);
        Assert.Equal(0, prefill.Engine.NumHeldRequests);
    }

    [Fact]
    public void AFailedPullFailsOrRecomputesAsThePolicySays()
    {
        var prompt = Model.Prompt(40, seed: 31);
        var unreachable = new RemoteKvSource("gone", "r", [0, 1, 2], "127.0.0.1", 1);
        using var decode = Model.CreateEngine(Options, numBlocks: 32);
        decode.Engine.KvFetcher = new FailingFetcher();

        decode.Engine.AddRequest(new EngineRequest("fail", prompt, Greedy) { KvTransfer = new() { RemotePrefill = unreachable } });
        decode.Engine.AddRequest(new EngineRequest("recompute", prompt, Greedy)
        {
            KvTransfer = new() { RemotePrefill = unreachable, FailurePolicy = KvLoadFailurePolicy.Recompute },
        });
        decode.RunToCompletion();

        Assert.IsType<KvLoadFailedException>(decode.Last["fail"].Error?.InnerException);
        Assert.Null(decode.Last["recompute"].Error);
        Assert.Equal(SingleEngine(prompt), decode.Tokens["recompute"]);
    }

    [Fact]
    public void AnUnpulledLeaseExpiresAndFreesItsBlocks()
    {
        long now = 0;
        using var prefill = Model.CreateEngine(Options with { KvLeaseTimeout = TimeSpan.FromSeconds(2) }, numBlocks: 32);
        prefill.Engine.NowMs = () => now;
        Prefill(prefill, "r", Model.Prompt(30, seed: 41));
        Assert.True(prefill.Engine.GetStats().NumBlocksUsed > 0);

        now = 1999;
        Assert.Equal(0, prefill.Engine.ExpireLeases());
        Assert.Equal(1, prefill.Engine.MillisecondsToNextLeaseExpiry);
        now = 2000;
        Assert.Equal(1, prefill.Engine.ExpireLeases());
        Assert.Equal(0, prefill.Engine.NumHeldRequests);
        Assert.Equal(0, prefill.Engine.GetStats().NumBlocksUsed);
        Assert.Throws<ArgumentException>(() => prefill.Engine.ExportHeldBlocks("r", [0]));
    }

    [Fact]
    public void KvTransferRequestsThatCannotWorkAreRefused()
    {
        using var engine = Model.CreateEngine(Options, numBlocks: 32);
        var source = new RemoteKvSource("e", "r", [0], "h", 1);
        var prompt = Model.Prompt(10, seed: 1);
        var noFetcher = Assert.Throws<ArgumentException>(() =>
            engine.Engine.AddRequest(new EngineRequest("a", prompt, Greedy) { KvTransfer = new() { RemotePrefill = source } }));
        Assert.Equal("kv_transfer_params", noFetcher.ParamName);
        Assert.Throws<ArgumentException>(() =>
            engine.Engine.AddRequest(new EngineRequest("b", prompt, Greedy with { N = 2 }) { KvTransfer = new() { DoRemoteDecode = true } }));
        Assert.False(engine.Engine.HasWork);
    }

    /// <summary>Runs the prompt with max_tokens 1 and do_remote_decode; returns what the prefill reply names.</summary>
    private static RemoteKvSource Prefill(TestEngine prefill, string id, int[] prompt)
    {
        prefill.Engine.AddRequest(new EngineRequest(id, prompt, Greedy with { MaxTokens = 1 }) { KvTransfer = new() { DoRemoteDecode = true } });
        prefill.RunToCompletion();
        var held = prefill.Last[id].HeldKv ?? throw new InvalidOperationException("the prefill reply names no blocks");
        Assert.Equal(prompt.Length, held.NumTokens);
        return new RemoteKvSource(prefill.Engine.EngineId, id, held.BlockIds, "in-process", 0);
    }

    private static List<int> SingleEngine(int[] prompt)
    {
        using var single = Model.CreateEngine(Options, numBlocks: 32);
        single.Add("r", prompt, Greedy);
        single.RunToCompletion();
        return single.Tokens["r"];
    }

    /// <summary>Pulls straight from another engine in the same thread, as the KV service would through its engine thread.</summary>
    private sealed class DirectFetcher(LlmEngine holder) : IKvBlockFetcher
    {
        public List<int[]> Pulled { get; } = [];

        public Task FetchAsync(RemoteKvSource source, IReadOnlyList<int> remoteBlockIds, Memory<byte> destination, CancellationToken cancellationToken)
        {
            int[] ids = [.. remoteBlockIds];
            Pulled.Add(ids);
            holder.ExportHeldBlocks(source.RequestId, ids).CopyTo(destination);
            holder.ReleaseHeldBlocks(source.RequestId);
            return Task.CompletedTask;
        }
    }

    private sealed class FailingFetcher : IKvBlockFetcher
    {
        public Task FetchAsync(RemoteKvSource source, IReadOnlyList<int> remoteBlockIds, Memory<byte> destination, CancellationToken cancellationToken) =>
            Task.FromException(new IOException("connection refused"));
    }
}
