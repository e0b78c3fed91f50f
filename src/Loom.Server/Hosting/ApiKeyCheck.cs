using System.Security.Cryptography;
using System.Text;
using Loom.Server.Api;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Hosting;

/// <summary>
/// Bearer-key check for /v1. Both sides are hashed to fixed-length digests first and compared with
/// FixedTimeEquals, so neither the key's content nor its length leaks through timing.
/// </summary>
internal sealed class ApiKeyCheck(string apiKey)
{
    private readonly byte[] _expectedDigest = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));

    public void Require(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        var presented = header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : "";
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        if (!CryptographicOperations.FixedTimeEquals(digest, _expectedDigest)) throw ApiException.Unauthorized();
    }
}
