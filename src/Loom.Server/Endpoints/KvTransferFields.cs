using System.Net;
using System.Text.Json;
using Loom.Engine.KvTransfer;
using Loom.Server.Api;
using Loom.Server.Hosting;

namespace Loom.Server.Endpoints;

/// <summary>
/// vLLM's <c>kv_transfer_params</c>, read from a request's extension data and written into a prefill reply. The
/// prefill request carries <c>do_remote_decode: true</c> (run the prompt with max_tokens 1, hold the KV); its reply
/// names the KV (<c>remote_engine_id</c>, <c>remote_request_id</c>, <c>remote_block_ids</c>, <c>remote_host</c>,
/// <c>remote_port</c>) with <c>do_remote_prefill: true</c>, and the decode request sends those back. An unknown field,
/// a wrong type or a role this server does not take is a 400 naming the field; nulls count as absent.
/// </summary>
internal static class KvTransferFields
{
    public const string Name = "kv_transfer_params";

    private static readonly HashSet<string> Known = new(StringComparer.Ordinal)
    {
        "do_remote_decode", "do_remote_prefill", "remote_engine_id", "remote_request_id", "remote_block_ids",
        "remote_host", "remote_port", "remote_num_tokens",
    };

    /// <summary>The request's part in P/D disaggregation, or null for an ordinary request.</summary>
    public static KvTransferRequest? Parse(IReadOnlyDictionary<string, JsonElement>? extra, ServerState state, bool stream)
    {
        if (extra is null || !extra.TryGetValue(Name, out var p) || p.ValueKind == JsonValueKind.Null) return null;
        if (p.ValueKind != JsonValueKind.Object) throw Bad("kv_transfer_params must be an object.", Name);
        foreach (var field in p.EnumerateObject())
            if (!Known.Contains(field.Name)) throw Bad($"kv_transfer_params.{field.Name} is not a known field.", $"{Name}.{field.Name}");
        bool decode = Bool(p, "do_remote_decode"), prefill = Bool(p, "do_remote_prefill");
        if (decode && prefill) throw Bad("kv_transfer_params cannot set both do_remote_decode and do_remote_prefill.", Name);
        if (decode) return RemoteDecode(state, stream);
        if (prefill) return RemotePrefill(p, state);
        return null;
    }

    private static KvTransferRequest RemoteDecode(ServerState state, bool stream)
    {
        if (state.Options.KvRole == KvRole.Decode)
            throw Bad("This server is a decode instance (--kv-role decode): it does not take do_remote_decode.", $"{Name}.do_remote_decode");
        if (state.KvPort is null)
            throw Bad("This server runs no KV service (--kv-port): nothing could pull the KV it would hold.", $"{Name}.do_remote_decode");
        if (stream) throw Bad("do_remote_decode needs stream false: the reply carries the KV's whereabouts.", "stream");
        return new KvTransferRequest { DoRemoteDecode = true };
    }

    private static KvTransferRequest RemotePrefill(JsonElement p, ServerState state)
    {
        if (state.Options.KvRole == KvRole.Prefill)
            throw Bad("This server is a prefill instance (--kv-role prefill): it does not take do_remote_prefill.", $"{Name}.do_remote_prefill");
        int port = Int(p, "remote_port") ?? throw Missing("remote_port");
        if (port is < 1 or > 65535) throw Bad($"kv_transfer_params.remote_port must be in [1, 65535], got {port}.", $"{Name}.remote_port");
        var source = new RemoteKvSource(
            String(p, "remote_engine_id") ?? throw Missing("remote_engine_id"),
            String(p, "remote_request_id") ?? throw Missing("remote_request_id"),
            BlockIds(p) ?? throw Missing("remote_block_ids"),
            String(p, "remote_host") ?? throw Missing("remote_host"),
            port);
        return new KvTransferRequest { RemotePrefill = source, FailurePolicy = state.Options.KvLoadFailurePolicy };
    }

    /// <summary>The prefill reply's kv_transfer_params: where the decode instance pulls the held KV from.</summary>
    public static KvTransferParamsDto Reply(ServerState state, ServedModel model, string requestId, HeldKvBlocks held) => new()
    {
        DoRemoteDecode = false,
        DoRemotePrefill = true,
        RemoteEngineId = (model.Engine as IKvBlockHolder)?.EngineId,
        RemoteRequestId = requestId,
        RemoteBlockIds = held.BlockIds,
        RemoteHost = AdvertisedHost(state.Options),
        RemotePort = state.KvPort,
        RemoteNumTokens = held.NumTokens,
    };

    private static string AdvertisedHost(ServerOptions options) =>
        options.KvAdvertiseHost ?? (options.Host is "*" or "0.0.0.0" or "::" or "[::]" ? Dns.GetHostName() : options.Host);

    private static bool Bool(JsonElement p, string name) =>
        !p.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? false
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw Bad($"kv_transfer_params.{name} must be a boolean.", $"{Name}.{name}");

    private static string? String(JsonElement p, string name) =>
        !p.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s
        : throw Bad($"kv_transfer_params.{name} must be a non-empty string.", $"{Name}.{name}");

    private static int? Int(JsonElement p, string name) =>
        !p.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i
        : throw Bad($"kv_transfer_params.{name} must be an integer.", $"{Name}.{name}");

    private static int[]? BlockIds(JsonElement p)
    {
        if (!p.TryGetProperty("remote_block_ids", out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Array) throw Bad("kv_transfer_params.remote_block_ids must be a list of block ids.", $"{Name}.remote_block_ids");
        var ids = new int[v.GetArrayLength()];
        int k = 0;
        foreach (var e in v.EnumerateArray())
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out ids[k++]) || ids[k - 1] < 0)
                throw Bad("kv_transfer_params.remote_block_ids must hold non-negative integers.", $"{Name}.remote_block_ids");
        return ids;
    }

    private static ApiException Missing(string name) => Bad($"kv_transfer_params.{name} is required with do_remote_prefill.", $"{Name}.{name}");

    private static ApiException Bad(string message, string param) => ApiException.BadRequest(message, param);
}
