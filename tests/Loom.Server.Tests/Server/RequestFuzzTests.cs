using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Loom.Server.Tests.Server;

/// <summary>
/// Issue 16: a seeded fuzz of request bodies (random fields, types, extreme numbers, invalid text, random JSON shapes)
/// against the live demo server. No answer may be a 5xx; each is a 4xx in OpenAI's error shape or a valid completion;
/// a normal client keeps getting answers throughout, and the same greedy answer afterwards.
/// </summary>
public sealed class RequestFuzzTests(DemoServerFixture fixture) : IClassFixture<DemoServerFixture>
{
    private const string Normal = """{"prompt": "Paged attention", "max_tokens": 4, "temperature": 0}""";
    private static readonly string[] Paths = ["/v1/completions", "/v1/chat/completions", "/tokenize"];

    [Theory]
    [InlineData(16_001, 300)]
    public async Task Fuzzed_bodies_get_4xx_errors_or_valid_answers_and_never_5xx(int seed, int bodies)
    {
        using var client = new HttpClient { BaseAddress = new Uri(fixture.Server.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", DemoServerFixture.ApiKey);
        var expected = await CompleteAsync(client);

        using var stop = new CancellationTokenSource();
        var bystander = KeepAskingAsync(client, stop.Token);
        var random = new Random(seed);
        var statuses = new Dictionary<int, int>();
        for (int i = 0; i < bodies; i++)
        {
            var path = Paths[random.Next(Paths.Length)];
            var body = new BodyGenerator(random).Body(path);
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(random.Next(40) == 0 ? "text/plain" : "application/json");
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            int status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            var what = $"#{i} {path} {Encoding.UTF8.GetString(body)} -> {status} {text}";
            Assert.True(status < 500, what);
            if (status == 200) AssertValidAnswer(path, response.Content.Headers.ContentType?.MediaType, text, what);
            else AssertErrorShape(text, what);
        }
        await stop.CancelAsync();
        Assert.True(await bystander > 0);
        Assert.Equal(expected, await CompleteAsync(client));
        Assert.True(statuses.GetValueOrDefault(200) > bodies / 20, "too few valid bodies to exercise the engine: " + string.Join(", ", statuses));
        Assert.True(statuses.GetValueOrDefault(400) > bodies / 4, "too few invalid bodies: " + string.Join(", ", statuses));
    }

    private static async Task<string> CompleteAsync(HttpClient client)
    {
        using var response = await client.PostAsync("/v1/completions", new StringContent(Normal, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
    }

    /// <summary>Another client, asking all through the fuzz; returns how many answers it got (each must succeed).</summary>
    private static async Task<int> KeepAskingAsync(HttpClient client, CancellationToken stop)
    {
        int answers = 0;
        while (!stop.IsCancellationRequested)
        {
            Assert.False(string.IsNullOrEmpty(await CompleteAsync(client)));
            answers++;
        }
        return answers;
    }

    private static void AssertValidAnswer(string path, string? mediaType, string text, string what)
    {
        if (mediaType == "text/event-stream")
        {
            Assert.EndsWith("data: [DONE]\n\n", text);
            foreach (var e in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
            {
                Assert.StartsWith("data: ", e);
                if (e == "data: [DONE]") continue;
                var json = JsonDocument.Parse(e["data: ".Length..]).RootElement;
                if (json.TryGetProperty("error", out _)) AssertErrorShape(e["data: ".Length..], what);
                else Assert.True(json.TryGetProperty("choices", out _), what);
            }
            return;
        }
        var root = JsonDocument.Parse(text).RootElement;
        if (path == "/tokenize") Assert.Equal(root.GetProperty("count").GetInt32(), root.GetProperty("tokens").GetArrayLength());
        else Assert.True(root.GetProperty("choices").GetArrayLength() >= 1, what);
    }

    private static void AssertErrorShape(string text, string what)
    {
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()), what);
        Assert.False(string.IsNullOrEmpty(error.GetProperty("type").GetString()), what);
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _), what);
    }

    /// <summary>
    /// Random request bodies as raw bytes (so they can hold lone surrogate escapes and invalid UTF-8). The ranges include
    /// the values that used to kill the engine (issue 16 items 1 and 2): max_tokens near int.MaxValue (size overflow),
    /// repetition_penalty 1e-38 and stop_token_ids covering the whole vocabulary with min_tokens (an all-masked row).
    /// </summary>
    private sealed class BodyGenerator(Random random)
    {
        private static readonly string[] HostileMaxTokens = ["0", "-1", "-2147483648", "2147483647", "2147483646", "4096", "1e20", "\"8\"", "2.5", "true", "[]", "{}", "null"];
        private static readonly string[] HostilePenalties = ["0", "-1", "1e39", "1e-38", "1e-45", "\"x\"", "[]", "-0.0"];
        /// <summary>vocab_size of models/demo: stop_token_ids listing all of it mask every token.</summary>
        private const int DemoVocabSize = 4096;
        private static readonly string[] Words = ["paged", "attention", "the", "KV", "cache", "é", "日本", "🙂", "\\n", "\\\"", " "];
        private static readonly string[] Roles = ["user", "system", "assistant", "wizard", "tool", ""];

        private readonly List<byte[]> _rawPieces = [];

        public byte[] Body(string path)
        {
            if (random.Next(12) == 0) return Bytes(RandomValue(3)); // any JSON shape at the top
            var fields = new List<(string Name, string Value)>();
            if (path == "/v1/chat/completions") fields.Add(("messages", Messages()));
            else fields.Add(("prompt", path == "/tokenize" && random.Next(3) > 0 ? Text() : Prompt()));
            if (path != "/tokenize")
            {
                fields.Add(("max_tokens", random.Next(5) == 0 ? Pick(HostileMaxTokens) : random.Next(1, 9).ToString(CultureInfo.InvariantCulture)));
                int extras = random.Next(0, 6);
                for (int i = 0; i < extras; i++) fields.Add(SamplingField(path));
            }
            else if (random.Next(3) == 0) fields.Add(("add_special_tokens", Pick(["true", "false", "1", "\"yes\""])));
            if (random.Next(6) == 0) fields.Add((RandomName(), RandomValue(2)));
            if (random.Next(15) == 0) fields.RemoveAt(0);
            var json = "{" + string.Join(", ", fields.Select(f => $"\"{f.Name}\": {f.Value}")) + "}";
            if (random.Next(25) == 0) json = json[..random.Next(json.Length)]; // truncated
            return Bytes(json);
        }

        private (string, string) SamplingField(string path) => random.Next(23) switch
        {
            0 => ("temperature", Number(0, 2, ["-1", "1e39", "\"hot\"", "null"])),
            1 => ("top_p", Number(0.05, 1, ["0", "2", "-1"])),
            2 => ("top_k", Int(-1, 50, ["-5", "1e12", "0.5"])),
            3 => ("min_p", Number(0, 1, ["2", "-0.5"])),
            4 => ("presence_penalty", Number(-2, 2, ["3", "-3"])),
            5 => ("frequency_penalty", Number(-2, 2, ["3", "\"a\""])),
            6 => ("repetition_penalty", random.Next(4) == 0 ? Pick(HostilePenalties) : Number(0.5, 2, [])),
            7 => ("n", Int(1, 4, ["0", "-1", "\"2\"", "1e10"])),
            8 => ("stop", random.Next(2) == 0 ? Text() : "[" + Text() + ", " + Text() + "]"),
            9 when random.Next(4) == 0 => ("stop_token_ids", "[" + string.Join(",", Enumerable.Range(0, DemoVocabSize)) + "]"),
            9 => ("stop_token_ids", Int(0, 3, []) is var k ? "[" + string.Join(",", Enumerable.Range(0, int.Parse(k)).Select(_ => Int(0, 1500, ["-1", "99999999"]))) + "]" : ""),
            10 => ("min_tokens", Int(0, 4, ["-1", "1e9"])),
            11 => ("seed", Pick(["0", "42", "-7", "9223372036854775807", "1e30", "\"s\""])),
            12 => ("stream", Pick(["true", "false", "\"true\""])),
            13 => ("ignore_eos", Pick(["true", "false", "0"])),
            14 => path == "/v1/completions" ? ("logprobs", Int(0, 5, ["21", "-1", "true"])) : ("logprobs", Pick(["true", "false", "3"])),
            15 => path == "/v1/completions" ? ("echo", Pick(["true", "false"])) : ("top_logprobs", Int(0, 5, ["30", "-1"])),
            16 => (Pick(["tools", "tool_choice", "response_format", "guided_json", "guided_choice", "functions"]),
                Pick(["[]", "\"none\"", "\"auto\"", "{\"type\":\"text\"}", "{\"type\":\"json_object\"}", "[{\"type\":\"function\"}]"])),
            17 => ("stream_options", Pick(["{\"include_usage\": true}", "{}", "5", "null"])),
            18 => ("model", Pick(["\"demo\"", "\"gpt-17\"", "5", "null", "\"\""])),
            19 => ("skip_special_tokens", Pick(["true", "false"])),
            20 => ("max_completion_tokens", random.Next(5) == 0 ? Pick(HostileMaxTokens) : Int(1, 8, [])),
            21 => ("logit_bias", Pick(["{}", "{\"5\": 100}", "{\"5\": -100, \"6\": 1e39}", "{\"-1\": 1}", "{\"x\": 1}", "[]", "{\"99999\": 2}"])),
            _ => ("user", Text()),
        };

        private string Prompt() => random.Next(8) switch
        {
            0 => "[" + string.Join(",", Enumerable.Range(0, random.Next(0, 6)).Select(_ => Int(0, 1500, ["-3", "100000", "1.5", "\"a\""]))) + "]",
            1 => "[" + Text() + ", " + Text() + "]",
            2 => "[[1, 2], [3]]",
            3 => RandomValue(2),
            _ => Text(),
        };

        private string Messages()
        {
            if (random.Next(10) == 0) return RandomValue(2);
            var parts = new List<string>();
            for (int i = random.Next(0, 4); i >= 0; i--)
            {
                var role = random.Next(8) == 0 ? RandomValue(1) : "\"" + Pick(Roles) + "\"";
                var content = random.Next(6) switch
                {
                    0 => "[{\"type\": \"text\", \"text\": " + Text() + "}]",
                    1 => "[{\"type\": " + RandomValue(1) + ", \"text\": " + Text() + "}]",
                    2 => RandomValue(1),
                    _ => Text(),
                };
                parts.Add($"{{\"role\": {role}, \"content\": {content}}}");
            }
            return "[" + string.Join(", ", parts) + "]";
        }

        /// <summary>A JSON string of words, sometimes with a lone surrogate escape or a raw invalid UTF-8 byte run.</summary>
        private string Text()
        {
            var s = new StringBuilder("\"");
            for (int i = random.Next(0, 8); i > 0; i--) s.Append(Pick(Words)).Append(' ');
            switch (random.Next(14))
            {
                case 0: s.Append("a\\ud800b"); break;
                case 1: s.Append("\\udfff"); break;
                case 2: s.Append("\\ud83d\\ude42"); break; // a valid pair
                case 3: s.Append(RawMarker(random.Next(2) == 0 ? [0xFF] : [0xC0, 0xAF])); break;
                case 4: s.Append(new string('x', random.Next(2000, 20000))); break;
            }
            return s.Append('"').ToString();
        }

        private string RandomValue(int depth) => random.Next(depth > 0 ? 10 : 7) switch
        {
            0 => Pick(["0", "-0", "1", "-1", "2147483648", "-9223372036854775809", "1e308", "-1e308", "4.9e-324", "1.7976931348623157e309"]),
            1 => Pick(["true", "false", "null"]),
            2 => Text(),
            3 => "\"" + RandomName() + "\"",
            4 => random.NextDouble().ToString("R", CultureInfo.InvariantCulture),
            5 => "[]",
            6 => "{}",
            7 => "[" + string.Join(", ", Enumerable.Range(0, random.Next(1, 4)).Select(_ => RandomValue(depth - 1))) + "]",
            _ => "{" + string.Join(", ", Enumerable.Range(0, random.Next(1, 4)).Select(_ => $"\"{RandomName()}\": {RandomValue(depth - 1)}")) + "}",
        };

        private string RandomName() => Pick(["prompt", "messages", "role", "content", "type", "n", "x", "max_tokens", "extra_body", "\\ud800"]);

        private string Number(double lo, double hi, string[] hostile) =>
            hostile.Length > 0 && random.Next(4) == 0 ? Pick(hostile) : (lo + random.NextDouble() * (hi - lo)).ToString("0.###", CultureInfo.InvariantCulture);

        private string Int(int lo, int hi, string[] hostile) =>
            hostile.Length > 0 && random.Next(4) == 0 ? Pick(hostile) : random.Next(lo, hi + 1).ToString(CultureInfo.InvariantCulture);

        private string Pick(string[] choices) => choices[random.Next(choices.Length)];

        /// <summary>Raw bytes cannot live in a C# string: a marker char stands for them until <see cref="Bytes"/>.</summary>
        private string RawMarker(byte[] raw)
        {
            _rawPieces.Add(raw);
            return "\u0001" + (_rawPieces.Count - 1).ToString(CultureInfo.InvariantCulture) + "\u0001";
        }

        private byte[] Bytes(string json)
        {
            var output = new List<byte>();
            var pieces = json.Split('\u0001');
            for (int i = 0; i < pieces.Length; i++)
                if (i % 2 == 1 && int.TryParse(pieces[i], out var k) && k < _rawPieces.Count) output.AddRange(_rawPieces[k]);
                else output.AddRange(Encoding.UTF8.GetBytes(pieces[i]));
            return output.ToArray();
        }
    }
}
