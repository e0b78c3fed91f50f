using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Loom.Tests;

namespace Loom.Server.Tests.Server;

/// <summary>One live server on the real engine and the bundled demo model, shared by the tests of a class.</summary>
public sealed class DemoServerFixture : IAsyncLifetime
{
    public const string ApiKey = "test-key";
    public LoomServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var engine = new EngineOptions { IdleSelfCheck = true, MaxNumSeqs = 64 };
        var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engine });
        Server = await LoomServer.StartAsync(new ServerOptions { Host = "127.0.0.1", Port = 0, ApiKey = ApiKey, MaxNumSeqs = 64 },
            EngineHost.Start(model, engine));
        await Server.ModelReady;
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
