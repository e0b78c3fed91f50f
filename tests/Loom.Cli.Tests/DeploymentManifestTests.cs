using k8s;
using k8s.Models;
using Loom.Tests;

namespace Loom.Cli.Tests;

/// <summary>
/// deploy/kubernetes stays in step with the CLI: every manifest loads with KubernetesClient's typed loader, every
/// container's arguments parse as a loom command line, and ports, probes, selectors, the router's pod discovery and its
/// RBAC agree.
/// </summary>
public sealed class DeploymentManifestTests
{
    private static readonly string Folder = Path.Combine(RepoPaths.Root, "deploy", "kubernetes");

    private static List<object> LoadAll() =>
        Directory.GetFiles(Folder, "*.yaml").Order(StringComparer.Ordinal)
            .SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(f))).ToList();

    private static IEnumerable<(string Owner, V1PodTemplateSpec Template)> PodTemplates(List<object> objects) =>
        objects.OfType<V1StatefulSet>().Select(s => (s.Metadata.Name, s.Spec.Template))
            .Concat(objects.OfType<V1Deployment>().Select(d => (d.Metadata.Name, d.Spec.Template)));

    [Fact]
    public void Every_manifest_loads_as_typed_objects()
    {
        var objects = LoadAll();
        Assert.Contains(objects, o => o is V1StatefulSet { Metadata.Name: "loom-replica" });
        Assert.Contains(objects, o => o is V1Deployment { Metadata.Name: "loom-router" });
        Assert.Equal(2, objects.OfType<V1Service>().Count());
        Assert.Single(objects.OfType<V1PersistentVolumeClaim>());
    }

    [Fact]
    public void Every_container_runs_a_loom_command_line_that_parses()
    {
        foreach (var (owner, template) in PodTemplates(LoadAll()))
            foreach (var container in template.Spec.Containers)
            {
                var parsed = Program.BuildRoot().Parse([.. container.Args]);
                Assert.True(parsed.Errors.Count == 0, $"{owner}/{container.Name}: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
                Assert.Contains(parsed.CommandResult.Command.Name, new[] { "serve", "router" });
            }
    }

    [Fact]
    public void Ports_and_readiness_probes_match_the_port_flag()
    {
        foreach (var (owner, template) in PodTemplates(LoadAll()))
            foreach (var container in template.Spec.Containers)
            {
                int port = int.Parse(FlagValues(container.Args, "--port").Single(), System.Globalization.CultureInfo.InvariantCulture);
                var named = Assert.Single(container.Ports, p => p.Name == "http");
                Assert.Equal(port, named.ContainerPort);
                // A gRPC KV port (events for the router, pulls between P/D roles) is declared exactly when it is served.
                var kvPort = FlagValues(container.Args, "--kv-port").Select(v => int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToList();
                Assert.Equal(kvPort, container.Ports.Where(p => p.Name == "kv").Select(p => p.ContainerPort));
                Assert.Equal(1 + kvPort.Count, container.Ports.Count);
                Assert.Equal("0.0.0.0", FlagValues(container.Args, "--host").Single()); // reachable from other pods
                Assert.Equal("/health", container.ReadinessProbe.HttpGet.Path);
                Assert.Equal(named.Name, container.ReadinessProbe.HttpGet.Port.Value);
            }
    }

    [Fact]
    public void Services_select_their_pods_and_target_a_named_container_port()
    {
        var objects = LoadAll();
        var templates = PodTemplates(objects).Select(t => t.Template).ToList();
        foreach (var service in objects.OfType<V1Service>())
        {
            var pods = templates.Where(t => service.Spec.Selector.All(s => t.Metadata.Labels.TryGetValue(s.Key, out var v) && v == s.Value)).ToList();
            var pod = Assert.Single(pods);
            var portNames = pod.Spec.Containers.SelectMany(c => c.Ports).Select(p => p.Name).ToHashSet();
            Assert.All(service.Spec.Ports, p => Assert.Contains(p.TargetPort.Value, portNames));
        }
    }

    [Fact]
    public void The_router_discovers_exactly_the_replica_pods_on_their_port()
    {
        var objects = LoadAll();
        var replicas = objects.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "loom-replica");
        var replicaPort = replicas.Spec.Template.Spec.Containers.Single().Ports.Single(p => p.Name == "http").ContainerPort;
        var router = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "loom-router").Spec.Template.Spec.Containers.Single();
        Assert.Contains("--service-discovery", router.Args);
        Assert.Empty(FlagValues(router.Args, "--replica"));
        var selector = FlagValues(router.Args, "--selector").Select(term => term.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.NotEmpty(selector);
        foreach (var (owner, template) in PodTemplates(objects))
        {
            bool matches = selector.All(s => template.Metadata.Labels.TryGetValue(s.Key, out var v) && v == s.Value);
            Assert.True(matches == (owner == "loom-replica"), $"--selector should match the replica pods and only them, {owner} {(matches ? "matches" : "does not")}");
        }
        Assert.Equal(replicaPort.ToString(System.Globalization.CultureInfo.InvariantCulture), FlagValues(router.Args, "--service-discovery-port").Single());
    }

    [Fact]
    public void The_routers_service_account_may_get_list_and_watch_pods()
    {
        var objects = LoadAll();
        var account = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "loom-router").Spec.Template.Spec.ServiceAccountName;
        Assert.Contains(objects, o => o is V1ServiceAccount { Metadata.Name: var name } && name == account);
        var binding = Assert.Single(objects.OfType<V1RoleBinding>(), b => b.Subjects.Any(s => s.Kind == "ServiceAccount" && s.Name == account));
        Assert.Equal("Role", binding.RoleRef.Kind);
        var role = objects.OfType<V1Role>().Single(r => r.Metadata.Name == binding.RoleRef.Name);
        var pods = Assert.Single(role.Rules, r => r.ApiGroups.Contains("") && r.Resources.Contains("pods"));
        Assert.Equal(["get", "list", "watch"], pods.Verbs.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Replicas_serve_the_kv_events_the_router_follows()
    {
        var objects = LoadAll();
        var replica = objects.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "loom-replica").Spec.Template.Spec.Containers.Single();
        Assert.Single(FlagValues(replica.Args, "--kv-port"));
        var router = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "loom-router").Spec.Template.Spec.Containers.Single();
        Assert.DoesNotContain("false", FlagValues(router.Args, "--kv-events")); // on by default
    }

    [Fact]
    public void Replicas_carry_their_kv_role_as_a_label()
    {
        var replicas = LoadAll().OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "loom-replica");
        Assert.Equal("both", replicas.Spec.Template.Metadata.Labels["loom.dev/kv-role"]);
    }

    [Fact]
    public void The_dockerfile_publishes_the_cli_project_that_exists()
    {
        var dockerfile = File.ReadAllText(Path.Combine(RepoPaths.Root, "deploy", "Dockerfile"));
        Assert.Contains("dotnet publish src/Loom.Cli/Loom.Cli.csproj", dockerfile);
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "src", "Loom.Cli", "Loom.Cli.csproj")));
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"/app/loom.dll\"]", dockerfile);
    }

    private static IEnumerable<string> FlagValues(IList<string> args, string flag) =>
        args.Select((a, i) => (a, i)).Where(p => p.a == flag && p.i + 1 < args.Count).Select(p => args[p.i + 1]);
}
