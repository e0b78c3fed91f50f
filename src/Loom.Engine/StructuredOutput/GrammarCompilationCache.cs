using System.Collections.Concurrent;
using Loom.Core.Requests;
using Loom.Grammar;
using Loom.Grammar.Ast;
using Loom.Grammar.Compile;
using Loom.Grammar.Matching;
using Loom.Grammar.Vocab;

namespace Loom.Engine.StructuredOutput;

/// <summary>
/// One grammar being compiled (or compiled) for a vocabulary: the "not ready" gate the scheduler waits behind while a
/// request's grammar compiles on the thread pool (vLLM's WAITING_FOR_FSM), then the source of per-sequence processors.
/// </summary>
public sealed class GrammarCompilation : IReadinessGate
{
    private readonly Task<TokenGrammar> _task;

    internal GrammarCompilation(Task<TokenGrammar> task) => _task = task;

    /// <summary>Open once the masks are compiled; a failed compilation never opens (the engine ends its requests).</summary>
    public bool IsReady => _task.IsCompletedSuccessfully;

    /// <summary>The compile error (a bad schema found late, too large a grammar); null while compiling or once compiled.</summary>
    public Exception? Error => _task.IsFaulted ? _task.Exception!.GetBaseException()
        : _task.IsCanceled ? new OperationCanceledException("the grammar's compilation was cancelled") : null;

    public Task<TokenGrammar> Task => _task;

    /// <summary>A processor for one sequence; only once <see cref="IsReady"/> and without <see cref="Error"/>.</summary>
    public GrammarLogitsProcessor CreateProcessor()
    {
        if (!_task.IsCompletedSuccessfully) throw new InvalidOperationException("the grammar is not compiled", Error);
        return new GrammarLogitsProcessor(_task.Result);
    }
}

/// <summary>
/// Grammars compiled once per distinct key (e.g. "json_schema:" + the schema text) and vocabulary, shared by every
/// request that uses them. Errors (unsupported keyword, bad regex, a grammar that matches nothing) are thrown on the
/// caller's thread, where the automaton is built (milliseconds), so the API can answer 400 before anything is queued;
/// the expensive part, the per-state token masks over the vocabulary, runs on the thread pool. Bounded: past <see cref="Capacity"/> entries the oldest are dropped.
/// </summary>
/// <param name="masks">Builds the token masks; null = <see cref="TokenMaskCompiler.Instance"/>.</param>
public sealed class GrammarCompilationCache(TokenVocabulary vocabulary, int capacity = 256, ITokenMaskCompiler? masks = null)
{
    private readonly ITokenMaskCompiler _masks = masks ?? TokenMaskCompiler.Instance;
    private readonly ConcurrentDictionary<string, GrammarCompilation> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();

    public int Capacity => capacity;
    public int Count => _entries.Count;

    /// <summary>How many cached keys satisfy <paramref name="predicate"/> (diagnostics and tests).</summary>
    public int CountKeys(Func<string, bool> predicate) => _entries.Keys.Count(predicate);

    /// <exception cref="GrammarException">The grammar cannot be built or compiled.</exception>
    public GrammarCompilation GetOrCompile(string key, Func<GrammarDefinition> build)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(build);
        if (_entries.TryGetValue(key, out var existing)) return existing;
        var compiled = GrammarCompiler.Compile(build());
        var created = new GrammarCompilation(System.Threading.Tasks.Task.Run(() => _masks.Compile(compiled, vocabulary)));
        var entry = _entries.GetOrAdd(key, created);
        if (ReferenceEquals(entry, created)) Admit(key);
        return entry;
    }

    private void Admit(string key)
    {
        _order.Enqueue(key);
        while (_entries.Count > capacity && _order.TryDequeue(out string? oldest)) _entries.TryRemove(oldest, out _);
    }
}
