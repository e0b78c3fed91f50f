using Loom.Server.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Loom.Server.Hosting;

/// <summary>
/// Checks every request passes before any endpoint runs: the Host header (<see cref="HostFilter"/>), and the body
/// limit of the served model (<see cref="RequestBodyLimit"/>), set per request since the model loads after Kestrel starts.
/// </summary>
internal sealed class RequestGuards(ServerState state)
{
    private readonly HostFilter _hosts = HostFilter.For(state.Options);

    public Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        if (!_hosts.Allows(context.Request.Headers.Host.ToString()))
            throw ApiException.MisdirectedHost(context.Request.Headers.Host.ToString());
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } body)
            body.MaxRequestBodySize = state.MaxRequestBodyBytes;
        return next();
    }
}
