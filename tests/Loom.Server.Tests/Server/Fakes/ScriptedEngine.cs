using System.Runtime.CompilerServices;
using System.Text;
using Loom.Core.Requests;
using Loom.Engine;
using Loom.Engine.Output;
using Loom.Core.Sampling;

namespace Loom.Server.Tests.Server.Fakes;

/// <summary>
/// A stand-in engine for server mechanics tests (no model): each completion i writes the letters of
/// <see cref="Script"/> starting at offset i, one token per step, honouring max_tokens, stop strings, logprobs and n.
/// <see cref="Gate"/> holds generation back so tests can fill queues; cancellation aborts like the real engine.
/// </summary>
internal sealed class ScriptedEngine : IEngineClient
{
    private int _running, _waiting, _aborted, _submitted;
    private long _promptTokens, _generated;

    public string Script { get; init; } = "the quick brown fox jumps over the lazy dog ";
    /// <summary>When set, every request waits for one release before producing its first token.</summary>
    public SemaphoreSlim? Gate { get; set; }
    /// <summary>When set, every token waits for one release (lets a test disconnect mid-stream deterministically).</summary>
    public SemaphoreSlim? TokenGate { get; set; }
    /// <summary>Cached prompt tokens to report (pretend prefix cache).</summary>
    public int CachedTokens { get; init; }
    public int Aborted => Volatile.Read(ref _aborted);
    public int Submitted => Volatile.Read(ref _submitted);
    public int Running => Volatile.Read(ref _running);

    public EngineStats GetStats() => new(Volatile.Read(ref _running), Volatile.Read(ref _waiting), 100, Volatile.Read(ref _running),
        0, 0, Interlocked.Read(ref _promptTokens), Interlocked.Read(ref _generated)) { BlockSize = 16 };

    public async IAsyncEnumerable<RequestOutput> GenerateAsync(EngineRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        request.Params.Validate();
        Interlocked.Increment(ref _submitted);
        Interlocked.Increment(ref _waiting);
        bool running = false, finished = false;
        try
        {
            if (Gate is { } gate) await gate.WaitAsync(cancellationToken);
            Interlocked.Decrement(ref _waiting);
            Interlocked.Increment(ref _running);
            running = true;
            Interlocked.Add(ref _promptTokens, request.PromptTokenIds.Count);
            var p = request.Params;
            var texts = Enumerable.Range(0, p.N).Select(_ => new StringBuilder()).ToArray();
            var done = new bool[p.N];
            for (int step = 0; step < p.MaxTokens && done.Contains(false); step++)
            {
                if (TokenGate is { } tokenGate) await tokenGate.WaitAsync(cancellationToken);
                else await Task.Yield();
                cancellationToken.ThrowIfCancellationRequested();
                var deltas = new List<CompletionDelta>();
                for (int i = 0; i < p.N; i++)
                {
                    if (done[i]) continue;
                    char c = Script[(i + step) % Script.Length];
                    texts[i].Append(c);
                    Interlocked.Increment(ref _generated);
                    FinishReason? finish = step == p.MaxTokens - 1 ? FinishReason.Length : null;
                    string newText = c.ToString();
                    var stopReason = StopReason.None;
                    foreach (var stop in p.Stop)
                        if (texts[i].ToString().EndsWith(stop, StringComparison.Ordinal))
                        {
                            finish = FinishReason.Stop;
                            stopReason = StopReason.String(stop);
                            newText = p.IncludeStopStrInOutput ? newText : "";
                        }
                    done[i] = finish is not null;
                    var logprobs = p.Logprobs is { } k
                        ? new[] { new TokenLogprob(c, -0.5f, Enumerable.Range(0, k).Select(j => ((int)'a' + j, -1f - j)).ToList()) }
                        : null;
                    deltas.Add(new CompletionDelta(i, [c], newText, logprobs, finish, stopReason));
                }
                finished = !done.Contains(false);
                yield return new RequestOutput(request.RequestId, request.PromptTokenIds.Count, CachedTokens, deltas, finished);
            }
        }
        finally
        {
            if (running) Interlocked.Decrement(ref _running);
            else Interlocked.Decrement(ref _waiting);
            // Cancelled, or abandoned by the consumer before the end: both abort, as in the real engine.
            if (!finished) Interlocked.Increment(ref _aborted);
        }
    }
}
