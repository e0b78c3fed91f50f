using System.Net;
using System.Net.Sockets;

namespace Loom.Server.Hosting;

/// <summary>
/// Which Host header values the server answers (DNS rebinding defence). A server bound to a loopback address answers
/// only loopback names unless --allowed-hosts widens it: a web page the operator opens can make the browser resolve
/// an attacker's name to 127.0.0.1, but its requests then carry the attacker's name as Host. Loopback names are
/// always accepted (no page can make a browser send them for a foreign origin).
/// </summary>
public sealed class HostFilter
{
    private readonly HashSet<string> _allowed;
    private readonly bool _anyHost;

    private HostFilter(HashSet<string> allowed, bool anyHost)
    {
        _allowed = allowed;
        _anyHost = anyHost;
    }

    public static HostFilter For(ServerOptions options)
    {
        var allowed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in options.AllowedHosts ?? [])
        {
            var name = entry.Trim();
            if (name.Length > 0) allowed.Add(name.Trim('[', ']'));
        }
        bool any = allowed.Contains("*") || (options.AllowedHosts is null && !IsLoopback(options.Host));
        return new HostFilter(allowed, any);
    }

    /// <summary>Whether a request whose Host header is <paramref name="hostHeader"/> (port included or not) is answered.</summary>
    public bool Allows(string? hostHeader)
    {
        if (_anyHost) return true;
        var name = HostName(hostHeader ?? "");
        return name.Length > 0 && (IsLoopback(name) || _allowed.Contains(name));
    }

    /// <summary>"localhost:8000" -> "localhost", "[::1]:80" -> "::1", "127.0.0.1" -> "127.0.0.1".</summary>
    internal static string HostName(string hostHeader)
    {
        var h = hostHeader.Trim();
        if (h.StartsWith('['))
        {
            int close = h.IndexOf(']');
            return close < 0 ? "" : h[1..close];
        }
        int colon = h.LastIndexOf(':');
        return (colon < 0 ? h : h[..colon]).TrimEnd('.');
    }

    /// <summary>localhost, *.localhost, 127.0.0.0/8, ::1 (and ::ffff:127.x).</summary>
    internal static bool IsLoopback(string host)
    {
        var h = host.Trim().Trim('[', ']').TrimEnd('.');
        if (h.Equals("localhost", StringComparison.OrdinalIgnoreCase) || h.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
            return true;
        return IPAddress.TryParse(h, out var ip) && (ip.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            && IPAddress.IsLoopback(ip);
    }
}
