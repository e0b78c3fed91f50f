using Loom.Router.Routing;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Loom.Router.Proxy;

/// <summary>
/// Passive failure detection: a replica that refuses a connection, or answers 503 because it is draining or still
/// loading, is taken out of rotation at once for the reactivation period; after it the active /health probe (or the next
/// request) decides. YARP's TransportFailureRate policy needs a window of traffic first; a replica that refuses
/// connections is dead now, and one that is draining will not come back. Its prefix index is cleared too: if it comes
/// back, it comes back with an empty cache.
/// </summary>
public sealed class ConnectFailureHealthPolicy(IDestinationHealthUpdater healthUpdater, TimeSpan reactivationPeriod, ReplicaDirectory replicas)
    : IPassiveHealthCheckPolicy
{
    public const string PolicyName = "LoomConnectFailure";

    public string Name => PolicyName;

    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
        if (RetryOnAnotherReplica.CauseOf(context) is null) return;
        healthUpdater.SetPassive(cluster, destination, DestinationHealth.Unhealthy, reactivationPeriod);
        replicas.IndexOf(destination.DestinationId)?.ForgetRouted(); // null: the replica left the set meanwhile
    }
}
