using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Loom.Bench.Datasets;
using Loom.Bench.Metrics;

namespace Loom.Bench.Client;

public enum EndpointKind
{
    /// <summary>POST /v1/completions with "prompt" (text or token ids) and "max_tokens".</summary>
    Completions,
    /// <summary>POST /v1/chat/completions with one user message and "max_completion_tokens".</summary>
    ChatCompletions,
}

/// <summary>Where and how requests go: the full URL of the endpoint and the model name the server knows.</summary>
public sealed record EndpointTarget(Uri ApiUrl, string Model, EndpointKind Kind)
{
    /// <summary>base URL + endpoint path; the kind follows from the path (…/chat/completions is chat).</summary>
    public static EndpointTarget Create(string baseUrl, string endpoint, string model)
    {
        if (!Uri.TryCreate(baseUrl.TrimEnd('/') + "/" + endpoint.TrimStart('/'), UriKind.Absolute, out var url) || (url.Scheme != "http" && url.Scheme != "https"))
            throw new ArgumentException($"--base-url '{baseUrl}' with --endpoint '{endpoint}' is not an http(s) URL.", nameof(baseUrl));
        var kind = endpoint.TrimEnd('/').EndsWith("chat/completions", StringComparison.Ordinal) ? EndpointKind.ChatCompletions
            : endpoint.TrimEnd('/').EndsWith("completions", StringComparison.Ordinal) ? EndpointKind.Completions
            : throw new ArgumentException($"--endpoint '{endpoint}' must end with /completions or /chat/completions.", nameof(endpoint));
        return new EndpointTarget(url, model, kind);
    }
}

/// <summary>
/// Sends one benchmark request to an OpenAI-compatible server with streaming on, and times every chunk as vLLM's
/// async_request_openai_completions / _chat_completions do: TTFT at the first chunk with a choice, an ITL entry per later
/// chunk, latency at the last such chunk; the output length from usage.completion_tokens (stream_options.include_usage).
/// </summary>
public sealed class OpenAiStreamingClient(HttpClient http, EndpointTarget target, bool ignoreEos, string? apiKey = null)
{
    public EndpointTarget Target => target;

    /// <summary>
    /// Idle pooled connections are dropped after this long, before a server's own keep-alive timeout closes them
    /// (llama-server's cpp-httplib and uvicorn close after 5 s idle, without a Connection: close header).
    /// </summary>
    public static readonly TimeSpan PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How often one request is sent again after its connection closed before any response byte arrived.</summary>
    public const int MaxResends = 2;

    /// <summary>
    /// An HttpClient suited to many concurrent long streams (no connection limit; timeout per request). Without
    /// <paramref name="reuseConnections"/> every request opens its own connection, which no earlier response can have
    /// left half-closed: resends go that way.
    /// </summary>
    public static HttpClient CreateHttpClient(TimeSpan requestTimeout, bool reuseConnections = true) =>
        new(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionLifetime = reuseConnections ? TimeSpan.FromMinutes(10) : TimeSpan.Zero,
            PooledConnectionIdleTimeout = PooledConnectionIdleTimeout,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        })
        { Timeout = requestTimeout };

    /// <summary>
    /// Sends the request, and sends it again (at most <see cref="MaxResends"/> times) when the connection was lost before
    /// any response byte arrived: a server's keep-alive timer may close a pooled connection while the request is on the
    /// wire, and that loss is the client's, not the server's. A resend goes out on a connection of its own: the pool may
    /// hold more connections the server has already closed (one per concurrent stream when a server closes after each
    /// response), and a resend that drew another of those would be lost the same way. aiohttp (vLLM's client) resends only idempotent methods,
    /// per RFC 9112 §9.3.1; a benchmark's generation request has no side effect, so resending it is safe. Times are
    /// measured from the attempt that got a response; <see cref="RequestOutcome.Resends"/> counts the others.
    /// </summary>
    /// <param name="clockOrigin">Stopwatch timestamp of the benchmark start; StartTime is measured from it.</param>
    public async Task<RequestOutcome> SendAsync(SampleRequest request, long clockOrigin, CancellationToken cancellationToken)
    {
        for (int resends = 0; ; resends++)
        {
            var outcome = await SendOnceAsync(request, clockOrigin, resends, cancellationToken).ConfigureAwait(false);
            if (outcome is not null) return outcome with { Resends = resends };
        }
    }

    /// <summary>One attempt; null when the connection was lost before the response began and a resend is allowed.</summary>
    private async Task<RequestOutcome?> SendOnceAsync(SampleRequest request, long clockOrigin, int resends, CancellationToken cancellationToken)
    {
        using var ownConnection = resends > 0 ? CreateHttpClient(http.Timeout, reuseConnections: false) : null; // rare: only after a loss
        var client = ownConnection ?? http;
        using var message = new HttpRequestMessage(HttpMethod.Post, target.ApiUrl) { Content = BuildBody(request) };
        if (!string.IsNullOrEmpty(apiKey)) message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        long sent = Stopwatch.GetTimestamp();
        double startTime = Stopwatch.GetElapsedTime(clockOrigin, sent).TotalSeconds;
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (resends < MaxResends && IsLostBeforeResponse(e))
        {
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return RequestOutcome.Failed(request.PromptLen, startTime, Describe(e));
        }
        using (response) return await ReadResponseAsync(response, request, sent, startTime, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The connection closed or was reset after the request went out and before a status line came back (SendAsync
    /// with ResponseHeadersRead throws only then), or a pooled connection was reset while the request was written (an
    /// IOException under a connection error); a refused or failed connect is the server's absence, not a race.
    /// </summary>
    /// <summary>The exception and its causes in one line ("HttpRequestException (ConnectionError): ... &lt;- IOException: ..."), so a lost request says why.</summary>
    private static string Describe(Exception e)
    {
        var text = new StringBuilder();
        for (var cause = e; cause is not null; cause = cause.InnerException)
        {
            if (text.Length > 0) text.Append(" <- ");
            text.Append(cause.GetType().Name);
            if (cause is HttpRequestException { HttpRequestError: not HttpRequestError.Unknown } http) text.Append(" (").Append(http.HttpRequestError).Append(')');
            text.Append(": ").Append(cause.Message);
        }
        return text.ToString();
    }

    private static bool IsLostBeforeResponse(HttpRequestException e) =>
        e.HttpRequestError == HttpRequestError.ResponseEnded
        || (e.HttpRequestError is HttpRequestError.Unknown or HttpRequestError.ConnectionError && e.InnerException is IOException);

    private async Task<RequestOutcome> ReadResponseAsync(HttpResponseMessage response, SampleRequest request, long sent, double startTime,
        CancellationToken cancellationToken)
    {
        try
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                string body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                return RequestOutcome.Failed(request.PromptLen, startTime, $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}: {Truncate(body, 500)}");
            }
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return await ReadStreamAsync(new ServerSentEventReader(stream), request, sent, startTime, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return RequestOutcome.Failed(request.PromptLen, startTime, Describe(e));
        }
    }

    private async Task<RequestOutcome> ReadStreamAsync(ServerSentEventReader events, SampleRequest request, long sent, double startTime, CancellationToken cancellationToken)
    {
        bool chat = target.Kind == EndpointKind.ChatCompletions;
        var text = new StringBuilder();
        var itl = new List<double>(request.ExpectedOutputLen);
        double ttft = 0;
        bool first = true;
        int outputTokens = 0;
        long mostRecent = sent;
        while (await events.ReadEventAsync(cancellationToken).ConfigureAwait(false) is { } data)
        {
            if (data == "[DONE]") break;
            long now = Stopwatch.GetTimestamp();
            var chunk = StreamChunk.Parse(data, chat);
            if (chunk.Error is not null) return RequestOutcome.Failed(request.PromptLen, startTime, "server error in stream: " + chunk.Error);
            if (chunk.CompletionTokens is { } n) outputTokens = n;
            if (!chunk.CarriesToken) continue;
            if (first)
            {
                ttft = Stopwatch.GetElapsedTime(sent, now).TotalSeconds;
                first = false;
            }
            else itl.Add(Stopwatch.GetElapsedTime(mostRecent, now).TotalSeconds);
            mostRecent = now;
            text.Append(chunk.Text);
        }
        if (first) return RequestOutcome.Failed(request.PromptLen, startTime, "the stream ended without a chunk that carried a choice.");
        return new RequestOutcome
        {
            Success = true,
            PromptLen = request.PromptLen,
            OutputTokens = outputTokens,
            Ttft = ttft,
            Itl = itl,
            Latency = Stopwatch.GetElapsedTime(sent, mostRecent).TotalSeconds,
            StartTime = startTime,
            GeneratedText = text.ToString(),
        };
    }

    /// <summary>The JSON body: greedy, streamed, with usage in the last chunk (vLLM's payload).</summary>
    public ByteArrayContent BuildBody(SampleRequest request)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("model", target.Model);
            if (target.Kind == EndpointKind.Completions)
            {
                json.WritePropertyName("prompt");
                WritePrompt(json, request.Prompt);
                json.WriteNumber("max_tokens", request.ExpectedOutputLen);
            }
            else
            {
                string content = request.Prompt.Text ?? throw new InvalidOperationException("the chat endpoint needs text prompts; pass a tokenizer so prompts are decoded to text.");
                json.WriteStartArray("messages");
                json.WriteStartObject();
                json.WriteString("role", "user");
                json.WriteString("content", content);
                json.WriteEndObject();
                json.WriteEndArray();
                json.WriteNumber("max_completion_tokens", request.ExpectedOutputLen);
            }
            json.WriteNumber("temperature", 0.0);
            json.WriteBoolean("stream", true);
            json.WriteStartObject("stream_options");
            json.WriteBoolean("include_usage", true);
            json.WriteEndObject();
            if (ignoreEos) json.WriteBoolean("ignore_eos", true);
            json.WriteEndObject();
        }
        var body = new ByteArrayContent(buffer.GetBuffer(), 0, (int)buffer.Length);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return body;
    }

    private static void WritePrompt(Utf8JsonWriter json, BenchPrompt prompt)
    {
        if (prompt.Text is not null)
        {
            json.WriteStringValue(prompt.Text);
            return;
        }
        json.WriteStartArray();
        foreach (int id in prompt.TokenIds!) json.WriteNumberValue(id);
        json.WriteEndArray();
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max] + "…";
}
