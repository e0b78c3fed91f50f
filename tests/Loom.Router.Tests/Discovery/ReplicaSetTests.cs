using Loom.Core.KvCache;
using Loom.Router.Hosting;
using Loom.Router.Routing;
using Loom.Router.Signals;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Configuration;

namespace Loom.Router.Tests.Discovery;

/// <summary>ReplicaSet alone, over addresses nothing listens on (their scrapes fail at once): what joins, leaves and rejoins.</summary>
public sealed class ReplicaSetTests
{
    [Fact]
    public async Task A_pod_recreated_with_a_new_ip_rejoins_with_an_empty_index_and_yarp_follows_every_change()
    {
        var directory = new ReplicaDirectory(64);
        await using var signals = new ReplicaSignalPoller(TimeSpan.FromSeconds(1), NullLogger.Instance);
        var proxy = new InMemoryConfigProvider([], []);
        var options = new RouterOptions { Replicas = ["http://127.0.0.1:1"], KvEvents = false };
        await using var set = new ReplicaSet(directory, signals, proxy, options, new RouterMetrics(), NullLoggerFactory.Instance);

        await set.ReconcileAsync([new Replica("pod-a", "http://127.0.0.1:1"), new Replica("pod-b", "http://127.0.0.1:2")]);
        Assert.Equal(["pod-a", "pod-b"], Destinations(proxy).Keys.Order(StringComparer.Ordinal));
        directory.IndexOf("pod-a")!.Add([new BlockHash(7UL)]);

        await set.ReconcileAsync([new Replica("pod-a", "http://127.0.0.1:3"), new Replica("pod-b", "http://127.0.0.1:2")]);
        Assert.Equal("http://127.0.0.1:3", directory.Get("pod-a")!.Address);
        Assert.Equal(0, directory.IndexOf("pod-a")!.Count); // a new pod: nothing cached yet
        Assert.Equal("http://127.0.0.1:3", Destinations(proxy)["pod-a"].Address);
        Assert.DoesNotContain("http://127.0.0.1:1", signals.Addresses);

        await set.ReconcileAsync([]);
        Assert.Equal(0, directory.Count);
        Assert.Empty(Destinations(proxy));
        Assert.Empty(signals.Addresses);
    }

    private static IReadOnlyDictionary<string, DestinationConfig> Destinations(InMemoryConfigProvider proxy) =>
        proxy.GetConfig().Clusters.Single().Destinations!;
}
