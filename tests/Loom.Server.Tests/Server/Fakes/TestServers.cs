using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Loom.Models.Config;
using Loom.Server.Hosting;

namespace Loom.Server.Tests.Server.Fakes;

/// <summary>Starts real Kestrel servers on 127.0.0.1 with a free port, and small HTTP helpers for the tests.</summary>
internal static class TestServers
{
    public static ServedModel ScriptedModel(ScriptedEngine? engine = null, int maxModelLen = 256)
    {
        var tokenizer = new ByteTokenizer();
        return new ServedModel("scripted", engine ?? new ScriptedEngine(), tokenizer, new ChatMlTemplate(),
            GenerationConfig.Empty, maxModelLen);
    }

    public static Task<LoomServer> StartAsync(ServedModel model, ServerOptions? options = null) =>
        LoomServer.StartAsync((options ?? new ServerOptions()) with { Host = "127.0.0.1", Port = 0 }, model);

    public static HttpClient Client(LoomServer server, string? apiKey = null)
    {
        var client = new HttpClient { BaseAddress = new Uri(server.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    /// <summary>
    /// A client whose disposed, half-read responses close the connection at once (no draining for reuse),
    /// which is what a user closing a tab or killing a script looks like to the server.
    /// </summary>
    public static HttpClient HangUpClient(LoomServer server) =>
        new(new SocketsHttpHandler { MaxResponseDrainSize = 0 })
        {
            BaseAddress = new Uri(server.BaseUrl), Timeout = TimeSpan.FromSeconds(60),
        };

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static async Task<(int Status, JsonElement Body)> PostAsync(HttpClient client, string path, string json)
    {
        using var response = await client.PostAsync(path, Json(json));
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Waits for a condition another thread makes true (not a timing assertion: the deadline only guards against hangs).</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("Timed out waiting until " + what);
            await Task.Delay(10);
        }
    }

    /// <summary>Parses an SSE body into its data payloads (the [DONE] marker included as a string).</summary>
    public static List<string> SseData(string body)
    {
        Assert.EndsWith("data: [DONE]\n\n", body);
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        return events.Select(e => e["data: ".Length..]).ToList();
    }
}
