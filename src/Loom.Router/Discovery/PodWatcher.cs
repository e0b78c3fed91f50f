using k8s;
using Loom.Router.Hosting;
using Microsoft.Extensions.Logging;

namespace Loom.Router.Discovery;

/// <summary>
/// Keeps the router's replica set equal to the admitted pods of a label selector: list the pods, reconcile, then watch
/// from the list's resourceVersion and reconcile on every event; when the API server closes the watch, list again. A
/// failed call or an Error event (such as 410 Gone: the resourceVersion is too old) (API server unreachable, 403 without RBAC) is
/// logged, counted on /metrics and retried with exponential backoff (0.1 s to 5 s); the replicas already admitted keep
/// serving meanwhile, since a blind router cannot tell a dead pod from a dead API server.
/// </summary>
internal sealed class PodWatcher : IAsyncDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100), MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly Kubernetes _client;
    private readonly string _namespace;
    private readonly ServiceDiscoveryOptions _options;
    private readonly ReplicaSet _replicas;
    private readonly RouterMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public PodWatcher(ServiceDiscoveryOptions options, ReplicaSet replicas, RouterMetrics metrics, ILogger logger)
    {
        var config = options.ResolveKubernetes();
        _client = new Kubernetes(config);
        _namespace = options.Namespace ?? config.Namespace ?? "default";
        _options = options;
        _replicas = replicas;
        _metrics = metrics;
        _logger = logger;
        ApiServer = config.Host;
    }

    public string ApiServer { get; }

    /// <summary>Completed lists so far (tests wait for the first).</summary>
    public long NumLists => Interlocked.Read(ref _numLists);
    private long _numLists;

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    private async Task RunAsync(CancellationToken stop)
    {
        var backoff = FirstBackoff;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await ListAndWatchAsync(() => backoff = FirstBackoff, stop);
                continue; // the watch ended cleanly: list again at once
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _metrics.ObserveDiscoveryError();
                _logger.LogWarning("Watching pods {Selector} in namespace {Namespace} at {ApiServer} failed: {Error}; retrying in {Backoff} ms",
                    _options.LabelSelector, _namespace, ApiServer, e.Message, backoff.TotalMilliseconds);
            }
            try { await Task.Delay(backoff, stop); }
            catch (OperationCanceledException) { return; }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    private async Task ListAndWatchAsync(Action listed, CancellationToken stop)
    {
        var list = await _client.CoreV1.ListNamespacedPodAsync(_namespace, labelSelector: _options.LabelSelector, cancellationToken: stop);
        var pods = list.Items.Where(p => p.Metadata?.Name is not null).ToDictionary(p => p.Metadata.Name, StringComparer.Ordinal);
        await _replicas.ReconcileAsync(PodAdmission.Replicas(pods.Values, _options.Port), stop);
        Interlocked.Increment(ref _numLists);
        listed();
        var events = _client.CoreV1.WatchListNamespacedPodAsync(_namespace, labelSelector: _options.LabelSelector,
            resourceVersion: list.Metadata?.ResourceVersion, onError: e => throw e, cancellationToken: stop);
        await foreach (var (type, pod) in events)
        {
            if (type is WatchEventType.Error or WatchEventType.Bookmark || pod?.Metadata?.Name is not { } name) continue;
            if (type == WatchEventType.Deleted) pods.Remove(name);
            else pods[name] = pod;
            await _replicas.ReconcileAsync(PodAdmission.Replicas(pods.Values, _options.Port), stop);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _client.Dispose();
        _stop.Dispose();
    }
}
