using System.CommandLine;
using Loom.Engine.KvTransfer;
using Loom.Engine.Loading;
using Loom.Server.Hosting;

namespace Loom.Cli;

/// <summary>`loom serve`'s prefill/decode disaggregation flags (vLLM's kv_role and kv_load_failure_policy, SGLang's names).</summary>
public sealed class KvTransferOptionSet
{
    private readonly Option<string> _role = new("--kv-role")
    {
        Description = "prefill: hold do_remote_decode requests' KV for decode instances; decode: pull it for do_remote_prefill requests; both: either.",
        DefaultValueFactory = _ => "both",
    };
    private readonly Option<int?> _port = new("--kv-port") { Description = "Port of the gRPC KV service (0 = any free port; needed by --kv-role prefill): decode instances pull KV from it, and routers follow this replica's KV cache events (block stored / removed / all cleared) on it." };
    private readonly Option<string?> _host = new("--kv-host") { Description = "Host decode instances reach this server's KV service at (default: --host)." };
    private readonly Option<double> _leaseTimeout = new("--kv-lease-timeout")
    {
        Description = "Seconds a prefill's held KV waits to be pulled before its blocks are freed.",
        DefaultValueFactory = _ => 480,
    };
    private readonly Option<string> _failurePolicy = new("--kv-load-failure-policy")
    {
        Description = "What a decode request does when its KV cannot be pulled: recompute (prefill here) or fail (error to the client).",
        DefaultValueFactory = _ => "recompute",
    };

    public KvTransferOptionSet()
    {
        _role.AcceptOnlyFromAmong("prefill", "decode", "both");
        _failurePolicy.AcceptOnlyFromAmong("recompute", "fail");
    }

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _role, _port, _host, _leaseTimeout, _failurePolicy }) command.Options.Add(option);
    }

    public LoaderOptions Apply(ParseResult parse, LoaderOptions loader)
    {
        double seconds = parse.GetValue(_leaseTimeout);
        if (!(seconds > 0)) throw new ArgumentException("--kv-lease-timeout must be positive.", "--kv-lease-timeout");
        return loader with { Engine = loader.Engine with { KvLeaseTimeout = TimeSpan.FromSeconds(seconds) } };
    }

    public ServerOptions Apply(ParseResult parse, ServerOptions options) => options with
    {
        KvRole = Enum.Parse<KvRole>(parse.GetValue(_role)!, ignoreCase: true),
        KvPort = parse.GetValue(_port),
        KvAdvertiseHost = parse.GetValue(_host),
        KvLoadFailurePolicy = Enum.Parse<KvLoadFailurePolicy>(parse.GetValue(_failurePolicy)!, ignoreCase: true),
    };
}
