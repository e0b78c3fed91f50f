using Loom.Router.KvEvents;
using Loom.Router.Routing;
using Loom.Router.Signals;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace Loom.Router.Hosting;

/// <summary>
/// Joins and removes replicas while the router runs, keeping its four per-replica parts in step: the directory entry
/// (with its prefix index), the signal poller's scrape, the KV-event follower and YARP's destination. A joining replica
/// is scraped and indexed before YARP lists it, so its first pick already knows its block size; a leaving one is taken
/// out of YARP first, so no new request picks it, while requests already proxied there finish (YARP does not cut them).
/// One change at a time.
/// </summary>
internal sealed class ReplicaSet(ReplicaDirectory directory, ReplicaSignalPoller signals, InMemoryConfigProvider proxy, RouterOptions options,
    RouterMetrics metrics, ILoggerFactory loggers) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, KvEventFollower> _followers = new(StringComparer.Ordinal); // by replica id; under _gate
    private readonly ILogger _logger = loggers.CreateLogger<ReplicaSet>();

    /// <summary>The follower of the replica's KV cache events; null with --kv-events false or once it left.</summary>
    public KvEventFollower? FollowerOf(string id)
    {
        lock (_followers) return _followers.GetValueOrDefault(id);
    }

    /// <summary>
    /// Makes the set exactly <paramref name="desired"/>: replicas no longer in it leave, new ones join, and one whose
    /// address changed (a pod recreated under its name) leaves and joins again with an empty index.
    /// </summary>
    public async Task ReconcileAsync(IReadOnlyCollection<Replica> desired, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var wanted = desired.ToDictionary(r => r.Id, StringComparer.Ordinal);
            var leaving = directory.Members.Where(r => !wanted.TryGetValue(r.Id, out var w) || w.Address != r.Address).ToList();
            var joining = wanted.Values.Where(r => directory.Get(r.Id) is not { } held || held.Address != r.Address).ToList();
            if (leaving.Count == 0 && joining.Count == 0) return;
            if (leaving.Count > 0) PublishDestinations(directory.Members.Except(leaving)); // no new picks of them from here on
            foreach (var replica in leaving) await LeaveAsync(replica);
            foreach (var replica in joining) signals.Add(replica.Address);
            await signals.PollAsync(joining.Select(r => r.Address), cancellationToken);
            foreach (var replica in joining) Join(replica);
            PublishDestinations(directory.Members);
            metrics.SetReplicaCount(directory.Count);
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Join(Replica replica)
    {
        directory.TryAdd(replica);
        _logger.LogInformation("Replica {Id} joined at {Address}", replica.Id, replica.Address);
        if (!options.KvEvents) return;
        var follower = new KvEventFollower(replica.Address, directory.IndexOf(replica.Id)!, signals, options.MetricsPollInterval,
            loggers.CreateLogger<KvEventFollower>(), metrics);
        lock (_followers) _followers[replica.Id] = follower;
        follower.Start();
    }

    private async Task LeaveAsync(Replica replica)
    {
        KvEventFollower? follower;
        lock (_followers) _followers.Remove(replica.Id, out follower);
        if (follower is not null) await follower.DisposeAsync();
        signals.Remove(replica.Address);
        directory.TryRemove(replica.Id);
        metrics.ForgetKvEventsOf(replica.Address);
        _logger.LogInformation("Replica {Id} at {Address} left", replica.Id, replica.Address);
    }

    private void PublishDestinations(IEnumerable<Replica> replicas) =>
        proxy.Update(ProxyConfig.Routes(), [ProxyConfig.Cluster(options, replicas)]);

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try
        {
            KvEventFollower[] followers;
            lock (_followers)
            {
                followers = [.. _followers.Values];
                _followers.Clear();
            }
            foreach (var follower in followers) await follower.DisposeAsync();
        }
        finally
        {
            _gate.Release();
        }
    }
}
