using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;

namespace Loom.Hosting;

/// <summary>
/// What every Loom HTTP host (the server, its KV service, the routers) shares: the listen URL for a --host/--port
/// pair, and a lifetime that leaves Ctrl-C and SIGTERM to the CLI command that owns the host (it drains first).
/// Compiled into each hosting project from src/Shared/Hosting.
/// </summary>
internal static class ListenAddress
{
    /// <summary>Kestrel's URL for a host flag: any-address spellings, bracketed or bare IPv6, names and IPv4 as given.</summary>
    public static string Url(string host, int port)
    {
        if (host is "*" or "0.0.0.0" or "::" or "[::]") return $"http://{(host == "0.0.0.0" ? "0.0.0.0" : "[::]")}:{port}";
        bool ipv6 = IPAddress.TryParse(host.Trim('[', ']'), out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6;
        return ipv6 ? $"http://[{host.Trim('[', ']')}]:{port}" : $"http://{host}:{port}";
    }
}

/// <summary>The host stops only when its owner says so; signals are the CLI command's business.</summary>
internal sealed class OwnerControlledLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
