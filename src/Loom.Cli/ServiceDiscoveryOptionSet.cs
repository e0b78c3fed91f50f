using System.CommandLine;
using Loom.Router.Discovery;

namespace Loom.Cli;

/// <summary>
/// The router's Kubernetes discovery flags, SGLang's router names: --service-discovery with --selector,
/// --service-discovery-port and --service-discovery-namespace. The replicas are then the Running and Ready pods the
/// selector matches, watched while the router runs.
/// </summary>
internal sealed class ServiceDiscoveryOptionSet
{
    private readonly Option<bool> _enabled = new("--service-discovery")
    {
        Description = "Discover replicas as the Running and Ready pods matching --selector, watched through the Kubernetes API (the pod's service account, else the kubeconfig); instead of --replica.",
    };
    private readonly Option<string[]> _selector = new("--selector")
    {
        Description = "With --service-discovery: a label key=value the replica pods carry (repeat for each; all must match), e.g. app.kubernetes.io/component=replica.",
        AllowMultipleArgumentsPerToken = true,
    };
    private readonly Option<int> _port = new("--service-discovery-port")
    {
        Description = "With --service-discovery: the port of each pod's OpenAI API (its loom serve --port).",
        DefaultValueFactory = _ => 8000,
    };
    private readonly Option<string?> _namespace = new("--service-discovery-namespace")
    {
        Description = "With --service-discovery: the namespace of the pods (default: the router's own in a cluster, else the kubeconfig context's).",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_enabled);
        command.Options.Add(_selector);
        command.Options.Add(_port);
        command.Options.Add(_namespace);
    }

    /// <summary>The discovery options, or null without --service-discovery (then its other flags are an error).</summary>
    public ServiceDiscoveryOptions? Read(ParseResult parse)
    {
        if (parse.GetValue(_enabled))
            return new ServiceDiscoveryOptions { Selector = parse.GetValue(_selector) ?? [], Port = parse.GetValue(_port), Namespace = parse.GetValue(_namespace) };
        foreach (var flag in new Option[] { _selector, _port, _namespace })
            if (parse.GetResult(flag) is { Implicit: false })
                throw new CliUsageException($"{flag.Name} applies only with --service-discovery.");
        return null;
    }
}
