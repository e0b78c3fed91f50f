using System.Collections.Concurrent;
using System.Threading.Channels;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Loom.Router.Tests.Discovery;

/// <summary>
/// Just enough of the Kubernetes API for the router's pod watcher, on 127.0.0.1: GET /api/v1/namespaces/{ns}/pods lists
/// the pods, and with ?watch=true streams newline-delimited watch events (ADDED, MODIFIED, DELETED) for every change
/// made after the watch opened. Label selectors are recorded, not applied: every pod here is a replica.
/// </summary>
internal sealed class FakeKubernetesApi : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, V1Pod> _pods = [];
    private readonly List<Channel<string>> _watches = [];
    private long _version;

    private FakeKubernetesApi(WebApplication app, string ns)
    {
        _app = app;
        Namespace = ns;
    }

    public string Namespace { get; }
    public string Url => _app.Urls.First().TrimEnd('/');
    public ConcurrentQueue<string> Selectors { get; } = new();

    public int NumWatches
    {
        get { lock (_gate) return _watches.Count; }
    }

    /// <param name="port">0 = any free port; a port given again brings an API server back where it was.</param>
    public static async Task<FakeKubernetesApi> StartAsync(string ns, int port = 0)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var api = new FakeKubernetesApi(app, ns);
        app.UseRouting();
        app.MapGet("/api/v1/namespaces/{ns}/pods", (HttpContext c, string ns) => api.PodsAsync(c, ns));
        await app.StartAsync();
        return api;
    }

    /// <summary>Creates or replaces the pod; open watches see ADDED or MODIFIED.</summary>
    public void Put(V1Pod pod)
    {
        lock (_gate)
        {
            pod.Metadata.ResourceVersion = (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);
            bool added = _pods.TryAdd(pod.Metadata.Name, pod);
            _pods[pod.Metadata.Name] = pod;
            Broadcast(added ? "ADDED" : "MODIFIED", pod);
        }
    }

    public void Delete(string name)
    {
        lock (_gate)
            if (_pods.Remove(name, out var pod)) Broadcast("DELETED", pod);
    }

    /// <summary>A pod of the replica StatefulSet: Running with an IP, Ready or not.</summary>
    public static V1Pod Pod(string name, string ip, bool ready) => new()
    {
        ApiVersion = "v1",
        Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["app.kubernetes.io/component"] = "replica" } },
        Status = new V1PodStatus
        {
            Phase = "Running",
            PodIP = ip,
            Conditions = [new V1PodCondition { Type = "Ready", Status = ready ? "True" : "False" }],
        },
    };

    private async Task PodsAsync(HttpContext context, string ns)
    {
        if (ns != Namespace)
        {
            context.Response.StatusCode = 404;
            return;
        }
        Selectors.Enqueue(context.Request.Query["labelSelector"].ToString());
        context.Response.ContentType = "application/json";
        if (context.Request.Query["watch"] is ["true" or "1"]) await WatchAsync(context);
        else await context.Response.WriteAsync(ListJson(), context.RequestAborted);
    }

    private string ListJson()
    {
        lock (_gate)
            return KubernetesJson.Serialize(new V1PodList
            {
                ApiVersion = "v1",
                Kind = "PodList",
                Metadata = new V1ListMeta { ResourceVersion = _version.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                Items = [.. _pods.Values],
            });
    }

    private async Task WatchAsync(HttpContext context)
    {
        var events = Channel.CreateUnbounded<string>();
        lock (_gate) _watches.Add(events);
        try
        {
            await context.Response.StartAsync(context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            await foreach (var line in events.Reader.ReadAllAsync(context.RequestAborted))
            {
                await context.Response.WriteAsync(line + "\n", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
            // the watcher went away
        }
        finally
        {
            lock (_gate) _watches.Remove(events);
        }
    }

    private void Broadcast(string type, V1Pod pod)
    {
        var line = $"{{\"type\":\"{type}\",\"object\":{KubernetesJson.Serialize(pod)}}}";
        foreach (var watch in _watches) watch.Writer.TryWrite(line);
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
            foreach (var watch in _watches) watch.Writer.TryComplete();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
