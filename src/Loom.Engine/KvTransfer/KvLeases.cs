namespace Loom.Engine.KvTransfer;

/// <summary>
/// Deadlines of the blocks finished prefill requests hold: a decode instance that never pulls (it died, the router
/// gave up) must not keep them forever. Times are milliseconds of one monotonic clock.
/// </summary>
internal sealed class KvLeases(TimeSpan timeout)
{
    private readonly Dictionary<string, long> _deadlines = new();
    private readonly long _timeoutMs = (long)timeout.TotalMilliseconds;

    public int Count => _deadlines.Count;

    public void Grant(string requestId, long nowMs) => _deadlines[requestId] = nowMs + _timeoutMs;

    public bool End(string requestId) => _deadlines.Remove(requestId);

    /// <summary>Ends and returns the leases past their deadline.</summary>
    public List<string> TakeExpired(long nowMs)
    {
        var expired = new List<string>();
        foreach (var (id, deadline) in _deadlines)
            if (deadline <= nowMs) expired.Add(id);
        foreach (var id in expired) _deadlines.Remove(id);
        return expired;
    }

    /// <summary>Milliseconds until the first lease expires (at least 1); -1 without leases.</summary>
    public int MillisecondsToNextExpiry(long nowMs)
    {
        if (_deadlines.Count == 0) return -1;
        long first = _deadlines.Values.Min();
        return (int)Math.Clamp(first - nowMs, 1, int.MaxValue);
    }
}
