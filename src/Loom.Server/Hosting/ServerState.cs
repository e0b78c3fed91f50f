using Loom.Server.Api;
using Loom.Server.Endpoints;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Loom.Server.Hosting;

/// <summary>
/// The server's lifecycle (loading, serving, draining) and admission control. In-flight sequences beyond
/// MaxNumSeqs are the waiting queue; past MaxWaiting a request is refused with 503 before it reaches the engine,
/// so refusals never disturb requests already running.
/// </summary>
internal sealed class ServerState(ServerOptions options)
{
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _abortAll = new();
    private ServedModel? _model;
    private int _inFlightSeqs;
    private int _inFlightRequests;
    private bool _draining;

    public ServerOptions Options { get; } = options;

    /// <summary>The port the gRPC KV service listens on (remote_port in a prefill reply); null = it does not run.</summary>
    public int? KvPort { get; set; }

    /// <summary>The host's logger, once the app is built (warnings about ignored request fields go here).</summary>
    public ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>Bounds the tokenization running at once, so a burst of large prompts cannot take every core and its memory.</summary>
    public TokenizationGate Tokenization { get; } = new(Environment.ProcessorCount);

    /// <summary>The body limit in force: the explicit one, or sized from the served model's window.</summary>
    public long MaxRequestBodyBytes => RequestBodyLimit.For(Options, Model?.MaxModelLen);

    /// <summary>Cancelled when a drain runs out of time: every request still running is aborted.</summary>
    public CancellationToken AbortAll => _abortAll.Token;

    public ServedModel? Model => Volatile.Read(ref _model);
    public bool IsDraining { get { lock (_gate) return _draining; } }
    public int InFlightRequests { get { lock (_gate) return _inFlightRequests; } }

    public void SetModel(ServedModel model) => Volatile.Write(ref _model, model);

    /// <summary>The served model, or 503 while it is still loading or after its engine died.</summary>
    public ServedModel RequireModel()
    {
        var model = Model ?? throw ApiException.Unavailable("The model is still loading; retry shortly.", "model_loading", Options.RetryAfterSeconds);
        if (model.Engine.Fault is { } fault) throw ApiException.EngineDead(fault.InnerException?.Message ?? fault.Message);
        return model;
    }

    /// <summary>503 while draining: load balancers and clients listing models stop sending here.</summary>
    public void RejectIfDraining()
    {
        if (IsDraining) throw ApiException.Unavailable("The server is shutting down.", "server_draining", Options.RetryAfterSeconds);
    }

    /// <summary>
    /// Admits a request of <paramref name="seqs"/> sequences, or throws 503 (draining, queue full), or 400 when it could
    /// never be admitted (more sequences than max_num_seqs + max_waiting: retrying would not help).
    /// </summary>
    public Admission Admit(int seqs)
    {
        long capacity = (long)Options.MaxNumSeqs + Options.MaxWaiting;
        if (seqs > capacity)
            throw ApiException.BadRequest(
                $"This request needs {seqs} sequences (n times the prompts) but the server holds at most {capacity} " +
                $"(max_num_seqs {Options.MaxNumSeqs} + max_waiting {Options.MaxWaiting}); lower n or send fewer prompts.", "n");
        lock (_gate)
        {
            if (_draining)
                throw ApiException.Unavailable("The server is shutting down.", "server_draining", Options.RetryAfterSeconds);
            long waitingAfter = (long)_inFlightSeqs + seqs - Options.MaxNumSeqs;
            if (waitingAfter > Options.MaxWaiting)
                throw ApiException.Unavailable(
                    $"The waiting queue is full ({Options.MaxWaiting} sequences); retry shortly.", "queue_full", Options.RetryAfterSeconds);
            _inFlightSeqs += seqs;
            _inFlightRequests++;
        }
        return new Admission(this, seqs);
    }

    private void Release(int seqs)
    {
        lock (_gate)
        {
            _inFlightSeqs -= seqs;
            _inFlightRequests--;
        }
    }

    /// <summary>
    /// Stop admitting (new requests get 503), let running requests finish within <paramref name="timeout"/>,
    /// then abort the rest and wait briefly for them to unwind.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        lock (_gate) _draining = true;
        if (!await WaitIdleAsync(timeout)) await _abortAll.CancelAsync();
        await WaitIdleAsync(TimeSpan.FromSeconds(5));
    }

    private async Task<bool> WaitIdleAsync(TimeSpan timeout)
    {
        // Polling is fine here: a drain happens once per process and the poll period bounds its extra latency.
        var deadline = DateTime.UtcNow + timeout;
        while (InFlightRequests > 0)
        {
            if (DateTime.UtcNow >= deadline) return false;
            await Task.Delay(20);
        }
        return true;
    }

    /// <summary>Held for the life of one admitted request; disposing gives its slots back.</summary>
    public readonly struct Admission(ServerState state, int seqs) : IDisposable
    {
        public void Dispose() => state.Release(seqs);
    }
}
