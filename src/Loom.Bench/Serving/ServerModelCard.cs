using System.Text.Json;

namespace Loom.Bench.Serving;

/// <summary>
/// What `bench serve` learns from a server's GET /v1/models: the first model's id, and its vocabulary size where the
/// server says it (Loom: data[0].vocab_size; llama-server: data[0].meta.n_vocab; vLLM and OpenAI: not given).
/// </summary>
public sealed record ServerModelCard(string? Id, int? VocabSize)
{
    /// <summary>The card of a /v1/models body; null when the body lists no model.</summary>
    public static ServerModelCard? Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("data", out var data)
            || data.ValueKind != JsonValueKind.Array || data.GetArrayLength() == 0 || data[0].ValueKind != JsonValueKind.Object)
            return null;
        var first = data[0];
        string? id = first.TryGetProperty("id", out var idValue) && idValue.ValueKind == JsonValueKind.String ? idValue.GetString() : null;
        int? vocab = PositiveInt(first, "vocab_size")
            ?? (first.TryGetProperty("meta", out var meta) && meta.ValueKind == JsonValueKind.Object ? PositiveInt(meta, "n_vocab") : null);
        return new ServerModelCard(id, vocab);
    }

    /// <summary>
    /// The server's card, or null when it does not list models. A server still starting (connection refused; 503
    /// while Loom loads the model; no answer within 10 s while loading starves it) is asked again until the timeout,
    /// so that a bench started beside its servers does not fall back to --model and send a name the server does not know.
    /// </summary>
    public static async Task<ServerModelCard?> QueryAsync(HttpClient http, string baseUrl, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var (card, retry) = await TryQueryAsync(http, baseUrl, cancellationToken);
            if (!retry || DateTime.UtcNow >= deadline) return card;
            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
        }
    }

    private static async Task<(ServerModelCard? Card, bool Retry)> TryQueryAsync(HttpClient http, string baseUrl, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await http.GetAsync(baseUrl.TrimEnd('/') + "/v1/models", timeout.Token);
            if (response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable) return (null, true);
            if (!response.IsSuccessStatusCode) return (null, false);
            return (Parse(await response.Content.ReadAsStringAsync(timeout.Token)), false);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return (null, true); // not listening yet, or too busy loading to answer within the timeout
        }
        catch (JsonException)
        {
            return (null, false);
        }
    }

    private static int? PositiveInt(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n > 0 ? n : null;
}
