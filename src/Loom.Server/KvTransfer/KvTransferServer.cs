using Loom.Hosting;
using Loom.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Loom.Server.KvTransfer;

/// <summary>
/// The KV service on its own port (--kv-port): gRPC over cleartext HTTP/2, apart from the OpenAI API so that bulk KV
/// never queues behind API connections and each port can be firewalled on its own. It serves KV transfer (decode
/// instances pull held blocks) and KV cache events (routers follow what this replica caches).
/// </summary>
internal sealed class KvTransferServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private KvTransferServer(WebApplication app) => _app = app;

    /// <summary>The port it listens on (the one asked for, or the free one picked for 0).</summary>
    public int Port => new Uri(_app.Urls.First()).Port;

    public static async Task<KvTransferServer> StartAsync(ServerOptions options, ServerState state, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.LogLevel);
        builder.Services.AddRoutingCore();
        builder.Services.AddGrpc(o => o.MaxSendMessageSize = null);
        builder.Services.AddSingleton(state);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.ConfigureEndpointDefaults(e => e.Protocols = HttpProtocols.Http2); // h2c: gRPC without TLS
        });
        builder.WebHost.UseUrls(ListenAddress.Url(options.Host, options.KvPort!.Value));
        var app = builder.Build();
        app.UseRouting();
        app.MapGrpcService<KvTransferService>();
        app.MapGrpcService<KvEventsService>();
        await app.StartAsync(cancellationToken);
        return new KvTransferServer(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
