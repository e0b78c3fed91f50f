using k8s;
using Loom.Router.Discovery;
using Loom.Router.Hosting;
using Loom.Router.Tests.Proxy;
using Loom.Tests;

namespace Loom.Router.Tests.Discovery;

/// <summary>
/// The router discovering its replicas from a fake Kubernetes API on 127.0.0.1, in front of two real Loom replicas on
/// 127.0.0.1 and 127.0.0.2 (the same port, as pods share one): pods join when Ready, leave when deleted, and an
/// unreachable API server is retried. Each test starts and stops its own processes.
/// </summary>
public sealed class ServiceDiscoveryProofTests
{
    private const string Namespace = "loom";
    private const string Selector = "app.kubernetes.io/component=replica";

    [Fact]
    public async Task A_pod_that_becomes_ready_is_routed_to_and_a_deleted_one_stops_receiving_requests_while_its_in_flight_request_completes()
    {
        await using var a = await RouterRig.StartReplicaAsync(0);
        int port = new Uri(a.BaseUrl).Port;
        await using var b = await RouterRig.StartReplicaAsync(port, host: "127.0.0.2");
        await using var api = await FakeKubernetesApi.StartAsync(Namespace);
        api.Put(FakeKubernetesApi.Pod("pod-a", "127.0.0.1", ready: true));
        api.Put(FakeKubernetesApi.Pod("pod-b", "127.0.0.2", ready: false)); // starting: not routed to yet
        await using var router = await StartRouterAsync(api.Url, port);
        using var client = new HttpClient { BaseAddress = new Uri(router.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        await WaitAsync(() => router.NumPodLists > 0 && api.NumWatches > 0, "the router to list and watch the pods");
        Assert.Equal(["pod-a"], router.Replicas.Members.Select(r => r.Id));
        Assert.Equal(Selector, Assert.Single(api.Selectors.Distinct()));
        Assert.Equal(1, RouterRig.MetricValue(await client.GetStringAsync("/metrics"), "loom_router_replicas"));

        // A request is in flight on pod-a (its body still arriving) when pod-b turns Ready and pod-a is deleted.
        var rig = new RequestsOf(client);
        await rig.ChatAsync("first question");
        var indexA = router.Replicas.IndexOf("pod-a")!;
        Assert.True(indexA.Count > 0, "the routed prompt taught pod-a's index");
        Assert.NotNull(router.KvEventsOf("pod-a"));
        var release = new TaskCompletionSource();
        var inFlight = client.PostAsync("/tokenize", new HeldBody(release.Task));
        await WaitAsync(async () => await rig.RoutedToAsync(a.BaseUrl) == 2, "the router to send the held request to pod-a");
        api.Put(FakeKubernetesApi.Pod("pod-b", "127.0.0.2", ready: true));
        api.Delete("pod-a");
        await WaitAsync(() => router.Replicas.Members.Select(r => r.Id).SequenceEqual(["pod-b"]), "pod-b to join and pod-a to leave");
        Assert.Null(router.Replicas.IndexOf("pod-a")); // its prefix index is dropped
        Assert.Null(router.KvEventsOf("pod-a")); // and its KV-event follower stopped
        Assert.False(inFlight.IsCompleted);

        release.SetResult(); // the rest of the body reaches pod-a, which answers through the router
        using var answer = await inFlight;
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.IsSuccessStatusCode, text);
        Assert.Contains("\"tokens\"", text);

        // New requests go to pod-b alone.
        for (int i = 0; i < 3; i++) await rig.ChatAsync($"after the change {i}");
        Assert.Equal(2, await rig.RoutedToAsync(a.BaseUrl));
        Assert.Equal(3, await rig.RoutedToAsync(b.BaseUrl));
        Assert.Equal(1, RouterRig.MetricValue(await client.GetStringAsync("/metrics"), "loom_router_replicas"));
    }

    [Fact]
    public async Task An_unreachable_api_server_is_retried_and_the_router_serves_503_until_it_answers()
    {
        await using var replica = await RouterRig.StartReplicaAsync(0);
        var api = await FakeKubernetesApi.StartAsync(Namespace);
        int apiPort = new Uri(api.Url).Port;
        await api.DisposeAsync(); // nothing listens there now
        await using var router = await StartRouterAsync($"http://127.0.0.1:{apiPort}", new Uri(replica.BaseUrl).Port);
        using var client = new HttpClient { BaseAddress = new Uri(router.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        await WaitAsync(async () => RouterRig.MetricValue(await client.GetStringAsync("/metrics"), "loom_router_discovery_errors_total") >= 2,
            "the router to retry the API server");
        using (var health = await client.GetAsync("/health"))
        {
            Assert.Equal(503, (int)health.StatusCode);
            Assert.Contains("no_healthy_replica", await health.Content.ReadAsStringAsync());
        }

        await using var back = await FakeKubernetesApi.StartAsync(Namespace, apiPort);
        back.Put(FakeKubernetesApi.Pod("pod-0", "127.0.0.1", ready: true));
        await WaitAsync(() => router.Replicas.Count == 1, "the router to list the pods once the API server answers");
        await new RequestsOf(client).ChatAsync("hello");
    }

    private static Task<LoomRouter> StartRouterAsync(string apiServer, int replicaPort) => LoomRouter.StartAsync(new RouterOptions
    {
        Discovery = new ServiceDiscoveryOptions
        {
            Selector = [Selector],
            Namespace = Namespace,
            Port = replicaPort,
            Kubernetes = new KubernetesClientConfiguration { Host = apiServer },
        },
        Port = 0,
        ModelDirectory = RepoPaths.DemoModel,
        MetricsPollInterval = TimeSpan.FromMilliseconds(100),
        HealthCheckInterval = TimeSpan.FromMilliseconds(100),
        ReactivationPeriod = TimeSpan.FromMilliseconds(300),
    });

    private static Task WaitAsync(Func<bool> condition, string what) => WaitAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>A /tokenize body that keeps arriving until the release task completes (chunked, no length).</summary>
    private sealed class HeldBody : HttpContent
    {
        private readonly Task _release;

        public HeldBody(Task release)
        {
            _release = release;
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync("{\"model\":\"demo\","u8.ToArray());
            // JSON whitespace meanwhile, faster than Kestrel's minimum body rate (240 B/s), so neither router nor replica times it out.
            var padding = new byte[64];
            padding.AsSpan().Fill((byte)' ');
            while (!_release.IsCompleted)
            {
                await stream.WriteAsync(padding);
                await stream.FlushAsync();
                await Task.WhenAny(_release, Task.Delay(100));
            }
            await stream.WriteAsync("\"prompt\":\"held until the replica left\"}"u8.ToArray());
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    /// <summary>Requests through the router, and its per-replica count of them.</summary>
    private sealed class RequestsOf(HttpClient client)
    {
        private static readonly string System = string.Join(' ', Enumerable.Repeat("You are a careful assistant for the accounts team.", 6));

        public async Task ChatAsync(string user)
        {
            using var response = await client.PostAsync("/v1/chat/completions", RouterRig.Json(RouterRig.Chat(System, user)));
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }

        public async Task<double> RoutedToAsync(string replica) =>
            RouterRig.MetricValue(await client.GetStringAsync("/metrics"), $"loom_router_requests_total{{replica=\"{replica}\"}}");
    }
}
