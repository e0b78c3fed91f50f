using k8s;

namespace Loom.Router.Discovery;

/// <summary>
/// --service-discovery: the replicas are the pods matching <see cref="Selector"/> in one namespace, watched through the
/// Kubernetes API (SGLang's router flags: --selector, --service-discovery-port, --service-discovery-namespace).
/// </summary>
public sealed record ServiceDiscoveryOptions
{
    /// <summary>Equality terms key=value, all of which a pod's labels must match (SGLang's --selector).</summary>
    public required IReadOnlyList<string> Selector { get; init; }

    /// <summary>The pods' namespace; null = the router's own (in a cluster), else the kubeconfig context's, else "default".</summary>
    public string? Namespace { get; init; }

    /// <summary>The port of each pod's OpenAI API (loom serve --port).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>How to reach the API server; null = the pod's service account in a cluster, else the kubeconfig (tests set a Host).</summary>
    public KubernetesClientConfiguration? Kubernetes { get; init; }

    /// <summary>The selector as the API's labelSelector parameter.</summary>
    public string LabelSelector => string.Join(',', Selector);

    public void Validate()
    {
        if (Selector is null || Selector.Count == 0)
            throw new ArgumentException("--service-discovery needs at least one --selector key=value.", "--selector");
        foreach (var term in Selector)
            if (term.Split('=') is not [{ Length: > 0 } key, { Length: > 0 } value] || key.Trim() != key || value.Trim() != value || key.Contains(','))
                throw new ArgumentException($"--selector '{term}' is not a label key=value.", "--selector");
        if (Port is < 1 or > 65535) throw new ArgumentException($"--service-discovery-port must lie in [1, 65535], got {Port}.", "--service-discovery-port");
        if (Namespace is { } ns && (ns.Length == 0 || ns.Length > 63 || !ns.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')))
            throw new ArgumentException($"--service-discovery-namespace '{ns}' is not a Kubernetes namespace name.", "--service-discovery-namespace");
    }

    /// <summary>The API server's configuration: the given one, else in-cluster, else the kubeconfig; a clear error when none exists.</summary>
    public KubernetesClientConfiguration ResolveKubernetes()
    {
        if (Kubernetes is { } given) return given;
        if (KubernetesClientConfiguration.IsInCluster()) return KubernetesClientConfiguration.InClusterConfig();
        var kubeconfig = Environment.GetEnvironmentVariable("KUBECONFIG") is { Length: > 0 } env ? env.Split(Path.PathSeparator)[0]
            : KubernetesClientConfiguration.KubeConfigDefaultLocation;
        if (!File.Exists(kubeconfig))
            throw new FileNotFoundException(
                $"--service-discovery needs the Kubernetes API: run the router in a pod (with a service account allowed to watch pods) or give a kubeconfig (KUBECONFIG or {KubernetesClientConfiguration.KubeConfigDefaultLocation}; none at '{kubeconfig}').",
                kubeconfig);
        try
        {
            return KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
        }
        catch (k8s.Exceptions.KubeConfigException e)
        {
            throw new InvalidDataException($"--service-discovery: the kubeconfig '{kubeconfig}' cannot be used: {e.Message}", e);
        }
    }
}
