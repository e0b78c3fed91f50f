using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Loom.Router.Signals;

/// <summary>
/// Scrapes every replica's /metrics on a fixed period and keeps the latest <see cref="ReplicaSignals"/> per replica
/// address. Replicas are added and removed while it runs (discovered pods join and leave). A replica that does not answer keeps its last reading (health is YARP's business, not this poller's) and is
/// reported through <see cref="Unreachable"/>, so whoever keeps per-replica cache state can drop it.
/// </summary>
public sealed class ReplicaSignalPoller : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ReplicaSignals> _latest = new();
    private readonly ConcurrentDictionary<string, byte> _replicas = new(StringComparer.Ordinal); // a set of addresses
    private readonly HttpClient _http;
    private readonly TimeSpan _period;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public ReplicaSignalPoller(TimeSpan period, ILogger logger)
    {
        _period = period;
        _logger = logger;
        _http = new HttpClient { Timeout = period < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : period };
    }

    /// <summary>Raised with a replica's address each time a scrape of it fails.</summary>
    public event Action<string>? Unreachable;

    /// <summary>The latest reading of the replica at <paramref name="address"/> (Unknown before the first scrape).</summary>
    public ReplicaSignals Get(string address) => _latest.GetValueOrDefault(address, ReplicaSignals.Unknown);

    /// <summary>The addresses scraped now.</summary>
    public IReadOnlyCollection<string> Addresses => [.. _replicas.Keys];

    /// <summary>Scrapes <paramref name="address"/> from the next poll on.</summary>
    public void Add(string address) => _replicas.TryAdd(address, 0);

    /// <summary>Stops scraping <paramref name="address"/> and forgets its reading.</summary>
    public void Remove(string address)
    {
        _replicas.TryRemove(address, out _);
        _latest.TryRemove(address, out _);
    }

    /// <summary>Scrapes every replica once, now (also what the loop does each period).</summary>
    public Task PollOnceAsync(CancellationToken cancellationToken = default) => PollAsync(Addresses, cancellationToken);

    /// <summary>Scrapes these replicas once, now (a joining replica, before it takes requests).</summary>
    public Task PollAsync(IEnumerable<string> addresses, CancellationToken cancellationToken = default) =>
        Task.WhenAll(addresses.Select(r => PollAsync(r, cancellationToken)));

    public void Start() => _loop = Task.Run(async () =>
    {
        using var timer = new PeriodicTimer(_period);
        do await PollOnceAsync(_stop.Token);
        while (await timer.WaitForNextTickAsync(_stop.Token).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result));
    });

    private async Task PollAsync(string address, CancellationToken cancellationToken)
    {
        try
        {
            var text = await _http.GetStringAsync(address.TrimEnd('/') + "/metrics", cancellationToken);
            if (_replicas.ContainsKey(address)) _latest[address] = ReplicaSignals.Parse(text); // not if it left meanwhile
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            _logger.LogDebug("Scraping {Replica}/metrics failed: {Error}", address, e.Message);
            if (!cancellationToken.IsCancellationRequested) Unreachable?.Invoke(address);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _http.Dispose();
        _stop.Dispose();
    }
}
