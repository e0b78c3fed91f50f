using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Loom.Bench.Tests.Bench;

/// <summary>
/// A tiny OpenAI-compatible streaming server on loopback: answers /v1/completions and /v1/chat/completions with
/// max_tokens chunks of one token each ("t0 t1 …"), a usage chunk and [DONE], waiting a fixed time before the first
/// token and between tokens. Stands in for a real server where the test is about the client.
/// </summary>
internal sealed class FakeOpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private FakeOpenAiServer(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";
    public int RequestCount => _requests;
    public List<JsonElement> Bodies { get; } = [];

    public static async Task<FakeOpenAiServer> StartAsync(TimeSpan firstTokenDelay, TimeSpan tokenGap)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var server = new FakeOpenAiServer(app);
        app.MapPost("/v1/completions", ctx => server.StreamAsync(ctx, chat: false, firstTokenDelay, tokenGap));
        app.MapPost("/v1/chat/completions", ctx => server.StreamAsync(ctx, chat: true, firstTokenDelay, tokenGap));
        await app.StartAsync();
        server.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return server;
    }

    private async Task StreamAsync(HttpContext ctx, bool chat, TimeSpan firstTokenDelay, TimeSpan tokenGap)
    {
        Interlocked.Increment(ref _requests);
        using var body = await JsonDocument.ParseAsync(ctx.Request.Body);
        lock (Bodies) Bodies.Add(body.RootElement.Clone());
        int maxTokens = body.RootElement.GetProperty(chat ? "max_completion_tokens" : "max_tokens").GetInt32();
        int promptTokens = !chat && body.RootElement.GetProperty("prompt").ValueKind == JsonValueKind.Array ? body.RootElement.GetProperty("prompt").GetArrayLength() : 0;
        ctx.Response.ContentType = "text/event-stream";
        await Task.Delay(firstTokenDelay);
        for (int i = 0; i < maxTokens; i++)
        {
            if (i > 0) await Task.Delay(tokenGap);
            string finish = i == maxTokens - 1 ? "\"length\"" : "null";
            string choice = chat
                ? $"{{\"index\":0,\"delta\":{{\"content\":\"t{i} \"}},\"finish_reason\":{finish}}}"
                : $"{{\"index\":0,\"text\":\"t{i} \",\"finish_reason\":{finish}}}";
            await WriteAsync(ctx, $"{{\"id\":\"x\",\"choices\":[{choice}],\"usage\":null}}");
        }
        await WriteAsync(ctx, $"{{\"id\":\"x\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{promptTokens},\"completion_tokens\":{maxTokens},\"total_tokens\":{promptTokens + maxTokens}}}}}");
        await WriteAsync(ctx, "[DONE]");
    }

    private static async Task WriteAsync(HttpContext ctx, string data)
    {
        await ctx.Response.WriteAsync("data: " + data + "\n\n", Encoding.UTF8);
        await ctx.Response.Body.FlushAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
