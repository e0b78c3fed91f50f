using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Loom.Tests;

namespace Loom.Server.Tests.Server.Fakes;

/// <summary>
/// The demo model on the real engine with two fault hooks: the returned <c>Executor</c> can make the forward pass throw (the
/// engine must die and say so) or return NaN logits (a broken checkpoint), and any request with seed
/// <see cref="SamplingFaultSeed"/> throws while its third token is sampled (a fault of that request alone, after its
/// first tokens went out).
/// </summary>
internal static class FaultyEngineServer
{
    public const long SamplingFaultSeed = 666;

    public static async Task<(LoomServer Server, FaultyExecutor Executor)> StartAsync(ServerOptions? options = null)
    {
        var engineOptions = new EngineOptions { IdleSelfCheck = true, MaxNumSeqs = 16 };
        var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engineOptions });
        var executor = new FaultyExecutor(model.Executor);
        var engine = new LlmEngine(executor, model.Tokenizer, model.EosTokenIds, model.MaxModelLen, engineOptions)
        {
            LogitsObserver = (request, _) =>
            {
                if (request.Params.Seed == SamplingFaultSeed && request.NumOutputTokens >= 2) throw new InvalidOperationException("injected sampling fault");
            },
        };
        var llm = new AsyncLlm(engine);
        var served = new ServedModel(model.Name, llm, model.Tokenizer!, model.ChatTemplate, model.GenerationConfig, model.MaxModelLen)
        {
            Owner = new Ownership(llm, model),
        };
        var server = await TestServers.StartAsync(served, (options ?? new ServerOptions()) with { MaxNumSeqs = 16 });
        return (server, executor);
    }

    private sealed class Ownership(AsyncLlm engine, LoadedModel model) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await engine.DisposeAsync();
            model.Dispose();
        }
    }
}
