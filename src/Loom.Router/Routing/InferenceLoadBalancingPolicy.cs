using Loom.Router.Hosting;
using Loom.Router.Signals;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Loom.Router.Routing;

/// <summary>
/// YARP's hook for the inference-aware pick: gathers each available (healthy) replica's router load (YARP's own count of
/// requests in flight there), its polled waiting queue and KV usage, and its prefix-index match for this request, then
/// lets <see cref="ReplicaPicker"/> decide. Unless the replica's KV events feed its index, the picked replica's index
/// learns the prompt's blocks at once, so the next request with the same prefix follows it even before this one finishes.
/// </summary>
public sealed class InferenceLoadBalancingPolicy(ReplicaDirectory replicas, ReplicaSignalPoller signals, RoutingPolicyOptions options,
    RouterMetrics metrics) : ILoadBalancingPolicy
{
    public const string PolicyName = "LoomInference";

    /// <summary>What the router knows of a replica that left the set: nothing (read only, never added to).</summary>
    private static readonly PrefixIndex Departed = new(1);

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 0) return null;
        if (availableDestinations.Count == 1) return availableDestinations[0]; // YARP never asks then; RetryOnAnotherReplica records it
        var prompt = context.Features.Get<RoutedPrompt>();
        var blocks = prompt?.Blocks ?? PromptBlocks.None;
        Span<ReplicaCandidate> candidates = availableDestinations.Count <= 64
            ? stackalloc ReplicaCandidate[availableDestinations.Count]
            : new ReplicaCandidate[availableDestinations.Count];
        for (int i = 0; i < candidates.Length; i++)
        {
            var destination = availableDestinations[i];
            var index = replicas.IndexOf(destination.DestinationId) ?? Departed; // it left the set since YARP listed it
            var reading = signals.Get(destination.Model.Config.Address);
            int matched = Math.Min(index.LongestMatch(blocks.Hashes), blocks.MatchableBlocks);
            candidates[i] = new ReplicaCandidate(destination.ConcurrentRequestCount, reading.Waiting, reading.KvCacheUsage, matched, index.Count);
        }
        var decision = ReplicaPicker.Pick(candidates, blocks.MatchableBlocks, options);
        return Record(context, availableDestinations[decision.Index], decision);
    }

    /// <summary>
    /// The picked replica's index learns the prompt, and the metrics the decision. YARP skips the policy when only one
    /// replica is available, so <see cref="Proxy.RetryOnAnotherReplica"/> calls this itself then.
    /// </summary>
    public DestinationState Record(HttpContext context, DestinationState picked, RoutingDecision decision)
    {
        var prompt = context.Features.Get<RoutedPrompt>();
        var blocks = prompt?.Blocks ?? PromptBlocks.None;
        var index = replicas.IndexOf(picked.DestinationId);
        if (decision.Reason == RoutingReason.Single) decision = decision with { MatchedBlocks = Math.Min(index?.LongestMatch(blocks.Hashes) ?? 0, blocks.MatchableBlocks) };
        index?.AddRouted(blocks.Hashes);
        metrics.ObserveDecision(picked.Model.Config.Address, decision, prompt?.BlockSize ?? 0, prompt?.Known == true);
        return picked;
    }
}
