using k8s.Models;
using Loom.Router.Discovery;
using Loom.Router.Routing;

namespace Loom.Router.Tests.Discovery;

public sealed class PodAdmissionTests
{
    [Fact]
    public void A_running_ready_pod_with_an_ip_is_a_replica_named_after_the_pod()
    {
        var pod = FakeKubernetesApi.Pod("loom-replica-0", "10.1.2.3", ready: true);
        Assert.Equal(new Replica("loom-replica-0", "http://10.1.2.3:8000"), PodAdmission.ReplicaOf(pod, 8000));
    }

    [Fact]
    public void An_ipv6_pod_ip_is_bracketed()
    {
        var pod = FakeKubernetesApi.Pod("p", "fd00::5", ready: true);
        Assert.Equal("http://[fd00::5]:9", PodAdmission.ReplicaOf(pod, 9)!.Address);
    }

    [Theory]
    [InlineData("not ready")]
    [InlineData("pending")]
    [InlineData("succeeded")]
    [InlineData("no ip")]
    [InlineData("terminating")]
    [InlineData("no conditions")]
    [InlineData("no status")]
    public void Other_pods_are_not_admitted(string state)
    {
        var pod = FakeKubernetesApi.Pod("p", "10.0.0.1", ready: state != "not ready");
        switch (state)
        {
            case "pending": pod.Status.Phase = "Pending"; break;
            case "succeeded": pod.Status.Phase = "Succeeded"; break;
            case "no ip": pod.Status.PodIP = null; break;
            case "terminating": pod.Metadata.DeletionTimestamp = DateTime.UtcNow; break;
            case "no conditions": pod.Status.Conditions = null; break;
            case "no status": pod.Status = null; break;
        }
        Assert.Null(PodAdmission.ReplicaOf(pod, 8000));
    }

    [Fact]
    public void Replicas_keeps_only_the_admitted_pods()
    {
        V1Pod[] pods = [FakeKubernetesApi.Pod("a", "10.0.0.1", ready: true), FakeKubernetesApi.Pod("b", "10.0.0.2", ready: false)];
        Assert.Equal(["a"], PodAdmission.Replicas(pods, 8000).Select(r => r.Id));
    }

    [Theory]
    [InlineData("", "--selector '' is not a label key=value.")]
    [InlineData("app", "--selector 'app' is not a label key=value.")]
    [InlineData("app=", "--selector 'app=' is not a label key=value.")]
    [InlineData("a=b=c", "--selector 'a=b=c' is not a label key=value.")]
    [InlineData("a,b=c", "--selector 'a,b=c' is not a label key=value.")]
    public void A_selector_term_must_be_key_equals_value(string term, string message)
    {
        var options = new ServiceDiscoveryOptions { Selector = [term] };
        Assert.StartsWith(message, Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    [Fact]
    public void Discovery_needs_a_selector_a_port_and_a_namespace_name()
    {
        Assert.StartsWith("--service-discovery needs at least one --selector",
            Assert.Throws<ArgumentException>(new ServiceDiscoveryOptions { Selector = [] }.Validate).Message);
        Assert.StartsWith("--service-discovery-port must lie in [1, 65535], got 0.",
            Assert.Throws<ArgumentException>(new ServiceDiscoveryOptions { Selector = ["a=b"], Port = 0 }.Validate).Message);
        Assert.StartsWith("--service-discovery-namespace 'Loom_NS' is not",
            Assert.Throws<ArgumentException>(new ServiceDiscoveryOptions { Selector = ["a=b"], Namespace = "Loom_NS" }.Validate).Message);
        Assert.Equal("a=b,c=d", new ServiceDiscoveryOptions { Selector = ["a=b", "c=d"] }.LabelSelector);
    }
}
