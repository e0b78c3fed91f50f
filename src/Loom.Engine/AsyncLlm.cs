using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Loom.Engine;

/// <summary>
/// The asynchronous engine front (vLLM's AsyncLLM): an <see cref="LlmEngine"/> stepping on its own thread, fed through a
/// command queue; each request streams its outputs through its own channel. Cancelling a stream (or leaving it early)
/// aborts the request, which frees its KV blocks at the engine's next turn. Does not own the model it runs.
/// </summary>
public sealed partial class AsyncLlm : IEngineClient, KvTransfer.IKvBlockHolder, KvEvents.IKvEventSource, IAsyncDisposable
{
    private readonly LlmEngine _engine;
    private readonly Thread _thread;
    private readonly ConcurrentQueue<Command> _commands = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ConcurrentDictionary<string, Channel<RequestOutput>> _streams = new();
    private volatile EngineStats _stats;
    private volatile bool _stopping;
    private volatile EngineDeadException? _fault;
    private readonly TaskCompletionSource<EngineDeadException> _died = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public AsyncLlm(LlmEngine engine)
    {
        _engine = engine ?? throw new ArgumentNullException(nameof(engine));
        _stats = engine.GetStats();
        engine.KvArrived = () => _wake.Release();
        _thread = new Thread(RunLoop) { IsBackground = true, Name = "loom-engine" };
        _thread.Start();
    }

    public EngineOptions Options => _engine.Options;
    public int MaxModelLen => _engine.MaxModelLen;

    /// <inheritdoc/>
    public EngineDeadException? Fault => _fault;

    /// <inheritdoc/>
    public Task<EngineDeadException> Died => _died.Task;

    /// <summary>Latest counters, published by the engine thread after every step (safe from any thread).</summary>
    public EngineStats GetStats() => _stats;

    /// <summary>
    /// Submits the request and streams its outputs (one per engine step with news; the last has Finished set).
    /// Invalid requests throw <see cref="ArgumentException"/> naming the field on the first MoveNextAsync.
    /// </summary>
    public async IAsyncEnumerable<RequestOutput> GenerateAsync(EngineRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Params.Validate(); // fail on the caller's thread for the common mistakes
        ThrowIfUnavailable();
        cancellationToken.ThrowIfCancellationRequested();
        var channel = Channel.CreateUnbounded<RequestOutput>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        if (!_streams.TryAdd(request.RequestId, channel))
            throw new ArgumentException($"A request with id '{request.RequestId}' is already running.", "request_id");
        Post(new Command(request, null));

        bool finished = false;
        using var registration = cancellationToken.Register(() => Post(new Command(null, request.RequestId)));
        try
        {
            await foreach (var output in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                finished = output.Finished;
                yield return output;
                if (finished) yield break;
            }
        }
        finally
        {
            if (!finished) Post(new Command(null, request.RequestId)); // consumer left early: free the blocks
        }
    }

    /// <summary>Aborts a request by id (its stream ends with finish reason "abort").</summary>
    public void Abort(string requestId) => Post(new Command(null, requestId));

    /// <inheritdoc/>
    public string EngineId => _engine.EngineId;

    /// <inheritdoc/>
    public long BlockBytes => _engine.BlockBytes;

    /// <inheritdoc/>
    public Task<byte[]> ExportHeldBlocksAsync(string requestId, int[] blockIds) => RunOnEngine(e => e.ExportHeldBlocks(requestId, blockIds));

    /// <inheritdoc/>
    public Task<bool> ReleaseHeldBlocksAsync(string requestId) => RunOnEngine(e => e.ReleaseHeldBlocks(requestId));

    /// <inheritdoc/>
    public bool KvEventsEnabled => _engine.KvEvents is not null;

    /// <inheritdoc/>
    public KvEvents.KvEventSubscription SubscribeKvEvents(int capacity) =>
        (_engine.KvEvents ?? throw new InvalidOperationException("This engine records no KV cache events.")).Subscribe(capacity);

    /// <inheritdoc/>
    public Task<KvEvents.KvCacheSnapshot> KvSnapshotAsync() => RunOnEngine(e => e.KvSnapshot());

    /// <summary>Runs <paramref name="work"/> on the engine thread between steps (the only thread that touches engine state).</summary>
    private Task<T> RunOnEngine<T>(Func<LlmEngine, T> work)
    {
        ThrowIfUnavailable();
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(new Command(null, null, engine =>
        {
            try { done.SetResult(work(engine)); }
            catch (Exception e) { done.SetException(e); }
        }));
        return done.Task;
    }

    private void Post(Command command)
    {
        _commands.Enqueue(command);
        _wake.Release();
    }

    private void ThrowIfUnavailable()
    {
        if (_fault is { } fault) throw new EngineDeadException(fault.InnerException ?? fault);
        ObjectDisposedException.ThrowIf(_stopping, this);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Release();
        await Task.Run(_thread.Join).ConfigureAwait(false);
        EndAllStreams(new ObjectDisposedException(nameof(AsyncLlm), "The engine was shut down before the request finished."));
        _wake.Dispose();
    }

    /// <summary>Add (Request set), abort (AbortId set) or other work (Work set), applied by the engine thread between steps.</summary>
    private readonly record struct Command(EngineRequest? Request, string? AbortId, Action<LlmEngine>? Work = null);
}
