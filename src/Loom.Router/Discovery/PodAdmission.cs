using k8s.Models;
using Loom.Router.Routing;

namespace Loom.Router.Discovery;

/// <summary>
/// Which pods are replicas the router may send requests to: Running, Ready (the pod's readiness probe on /health
/// passed, so its weights are loaded and it is not draining), with a pod IP, and not being deleted (a terminating pod
/// drains: it finishes what it has and takes nothing new). Pure, so the rules are tested without an API server.
/// </summary>
public static class PodAdmission
{
    /// <summary>The replica the pod serves as (id = pod name, address = its IP and <paramref name="port"/>), or null when it is not admitted.</summary>
    public static Replica? ReplicaOf(V1Pod pod, int port)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (!IsServing(pod)) return null;
        var ip = pod.Status.PodIP;
        var host = ip.Contains(':') ? $"[{ip}]" : ip; // an IPv6 pod IP
        return new Replica(pod.Metadata.Name, $"http://{host}:{port}");
    }

    public static bool IsServing(V1Pod pod) =>
        pod.Metadata is { Name.Length: > 0, DeletionTimestamp: null }
        && pod.Status is { Phase: "Running", PodIP.Length: > 0 } status
        && status.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    /// <summary>The replicas among <paramref name="pods"/>.</summary>
    public static IReadOnlyCollection<Replica> Replicas(IEnumerable<V1Pod> pods, int port) =>
        [.. pods.Select(p => ReplicaOf(p, port)).OfType<Replica>()];
}
