using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Loom.Server.Api;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

/// <summary>Reads a request body with the source-generated serializer. Malformed JSON surfaces as JsonException (400).</summary>
internal static class JsonBody
{
    public static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> typeInfo) where T : class
    {
        var value = await JsonSerializer.DeserializeAsync(context.Request.Body, typeInfo, context.RequestAborted);
        return value ?? throw ApiException.BadRequest("The request body must be a JSON object.");
    }

    public static async Task WriteAsync<T>(HttpContext context, T value, JsonTypeInfo<T> typeInfo)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, value, typeInfo, context.RequestAborted);
    }
}
