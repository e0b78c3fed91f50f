using Loom.Router.Hosting;
using Loom.Router.Routing;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;

namespace Loom.Router.Proxy;

/// <summary>
/// Sends a request again to another replica when the one picked did nothing with it: the connection was refused (no
/// byte of the request reached it), or it answered 503 because it is draining or still loading (<see cref="MarkUnavailable"/>
/// suppresses that answer while another replica is left). Anything else (a timeout, a failure mid-response, a 4xx) goes
/// back to the client as it is: the replica may have done the work, and a response already started cannot be retried.
/// Sits in YARP's proxy pipeline before load balancing, so each attempt picks among the replicas not yet tried.
/// </summary>
public sealed class RetryOnAnotherReplica(RouterMetrics metrics, InferenceLoadBalancingPolicy policy)
{
    private const string CauseKey = "loom.retry-cause";
    private const string CanRetryKey = "loom.can-retry";

    public async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        var proxy = context.GetReverseProxyFeature();
        var untried = proxy.AvailableDestinations.ToList();
        if (untried.Count == 0)
        {
            await NoHealthyReplicaAsync(context.Response);
            return;
        }
        while (true)
        {
            proxy.AvailableDestinations = untried;
            context.Items[CanRetryKey] = untried.Count > 1 && context.Request.Body.CanSeek;
            if (untried.Count == 1) policy.Record(context, untried[0], new RoutingDecision(0, RoutingReason.Single, 0)); // YARP skips the policy
            await next();
            if (CauseOf(context) is not { } cause || context.Response.HasStarted || !context.Request.Body.CanSeek
                || proxy.ProxiedDestination is not { } failed) return;
            untried.Remove(failed);
            if (untried.Count == 0) return;
            metrics.ObserveRetry(cause);
            context.Items.Remove(CauseKey);
            context.Features.Set<IForwarderErrorFeature>(null);
            context.Response.Clear();
            context.Request.Body.Position = 0;
        }
    }

    private const string NoHealthyReplica =
        "{\"error\":{\"message\":\"No replica is healthy; retry shortly.\",\"type\":\"service_unavailable\",\"param\":null,\"code\":\"no_healthy_replica\"}}";

    /// <summary>503 in OpenAI's error shape, with Retry-After: every replica is out of rotation.</summary>
    public static Task NoHealthyReplicaAsync(HttpResponse response)
    {
        response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        response.Headers.RetryAfter = "1";
        response.ContentType = "application/json";
        return response.WriteAsync(NoHealthyReplica);
    }

    /// <summary>Why the attempt just made should go to another replica ("connect", "draining"), or null.</summary>
    public static string? CauseOf(HttpContext context)
    {
        if (context.Items.TryGetValue(CauseKey, out var cause)) return (string?)cause;
        if (context.Features.Get<IForwarderErrorFeature>() is { Error: ForwarderError.Request, Exception: HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } })
            return "connect";
        return null;
    }

    /// <summary>
    /// A response transform: a 503 whose body names server_draining or model_loading means the replica did not take the
    /// request; while another replica is left its body is suppressed and the request retried there.
    /// </summary>
    public static async ValueTask MarkUnavailable(ResponseTransformContext transform)
    {
        if (transform.ProxyResponse is not { StatusCode: System.Net.HttpStatusCode.ServiceUnavailable } response) return;
        var context = transform.HttpContext;
        if (context.Items[CanRetryKey] is not true) return;
        var body = await response.Content.ReadAsStringAsync(context.RequestAborted);
        if (!body.Contains("server_draining", StringComparison.Ordinal) && !body.Contains("model_loading", StringComparison.Ordinal)) return;
        context.Items[CauseKey] = "draining";
        transform.SuppressResponseBody = true;
    }
}
