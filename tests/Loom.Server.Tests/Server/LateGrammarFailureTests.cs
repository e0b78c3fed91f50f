using System.Text.Json;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Engine.StructuredOutput;
using Loom.Grammar;
using Loom.Grammar.Compile;
using Loom.Grammar.Matching;
using Loom.Grammar.Vocab;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;
using Loom.Tests;

namespace Loom.Server.Tests.Server;

/// <summary>
/// A grammar that is accepted at intake (the schema is fine) but whose token masks then fail to compile, on the live
/// demo server: each such request ends alone with a 400 in OpenAI's shape naming the field, streamed or not (the
/// server waits for the masks before any response begins, so no stream has started), while requests beside it,
/// constrained and not, complete; the server keeps serving and no KV block is left behind.
/// </summary>
public sealed class LateGrammarFailureTests : IAsyncLifetime
{
    private readonly FailingMaskCompiler _masks = new();
    private LoomServer _server = null!;

    public async Task InitializeAsync()
    {
        var engine = new EngineOptions { IdleSelfCheck = true, MaxNumSeqs = 16 };
        var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engine });
        _server = await TestServers.StartAsync(EngineHost.Start(model, engine) with { MaskCompiler = _masks });
    }

    public async Task DisposeAsync()
    {
        _masks.Release(); // a failed assertion must not leave pool threads blocked
        await _server.DisposeAsync();
    }

    private static string Schema(string key) =>
        "{\"type\":\"object\",\"properties\":{\"" + key + "\":{\"enum\":[\"a\",\"b\"]}},\"required\":[\"" + key + "\"],\"additionalProperties\":false}";

    private static string Body(string? schema, bool stream = false) =>
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":200,\"temperature\":1,\"seed\":1,\"stream\":"
        + (stream ? "true" : "false")
        + (schema is null ? "" : ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\",\"schema\":" + schema + "}}") + "}";

    [Fact]
    public async Task A_late_compile_failure_ends_only_its_own_request_streamed_or_not()
    {
        using var client = TestServers.Client(_server);
        var (warm, _) = await TestServers.PostAsync(client, "/v1/chat/completions", Body(Schema("cached")));
        Assert.Equal(200, warm); // compiled while the compiler still works: later requests for it reuse the masks

        _masks.FailFromNowOn();
        var whole = TestServers.PostAsync(client, "/v1/chat/completions", Body(Schema("whole")));
        var streamed = client.PostAsync("/v1/chat/completions", TestServers.Json(Body(Schema("streamed"), stream: true)));
        await TestServers.WaitUntilAsync(() => _masks.Waiting == 2, "both failing compilations began");

        var free = await TestServers.PostAsync(client, "/v1/chat/completions", Body(null));
        var constrained = await TestServers.PostAsync(client, "/v1/chat/completions", Body(Schema("cached")));
        Assert.Equal(200, free.Status);
        Assert.Equal(200, constrained.Status);
        using var answer = JsonDocument.Parse(constrained.Body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!);
        Assert.Contains(answer.RootElement.GetProperty("cached").GetString(), (string[])["a", "b"]);
        Assert.False(whole.IsCompleted || streamed.IsCompleted, "the failing requests waited for their masks");

        _masks.Release();
        var (status, json) = await whole;
        Assert.Equal(400, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", "response_format");
        Assert.Contains("too many states", json.GetProperty("error").GetProperty("message").GetString());

        using var stream = await streamed;
        Assert.Equal(400, (int)stream.StatusCode);
        Assert.Equal("application/json", stream.Content.Headers.ContentType?.MediaType);
        using var streamError = JsonDocument.Parse(await stream.Content.ReadAsStringAsync());
        ErrorResponseTests.AssertError(streamError.RootElement, "invalid_request_error", "response_format");

        var (after, _) = await TestServers.PostAsync(client, "/v1/chat/completions", Body(null));
        Assert.Equal(200, after);
        Assert.Equal(0, _server.Model!.Engine.GetStats().NumBlocksUsed);
    }

    /// <summary>Loom's own masks until told to fail; then each compilation waits for <see cref="Release"/> and throws.</summary>
    private sealed class FailingMaskCompiler : ITokenMaskCompiler
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _failing;
        private int _waiting;

        public int Waiting => Volatile.Read(ref _waiting);

        public void FailFromNowOn() => _failing = true;

        public void Release() => _release.TrySetResult();

        public TokenGrammar Compile(CompiledGrammar grammar, TokenVocabulary vocabulary)
        {
            if (!_failing) return TokenMaskCompiler.Instance.Compile(grammar, vocabulary);
            Interlocked.Increment(ref _waiting);
            _release.Task.Wait();
            throw new GrammarException("the grammar has too many states");
        }
    }
}
