using System.Diagnostics;

namespace Loom.Server.Metrics;

/// <summary>Arrival, first-token and last-token times of one engine request, from Stopwatch timestamps.</summary>
public sealed class RequestTiming
{
    private readonly long _arrival = Stopwatch.GetTimestamp();
    private long _firstToken;
    private long _lastToken;

    public int OutputTokens { get; private set; }

    public void OnTokens(int count)
    {
        if (count == 0) return;
        long now = Stopwatch.GetTimestamp();
        if (_firstToken == 0) _firstToken = now;
        _lastToken = now;
        OutputTokens += count;
    }

    public double ElapsedSeconds => Stopwatch.GetElapsedTime(_arrival, _lastToken == 0 ? Stopwatch.GetTimestamp() : _lastToken).TotalSeconds;

    public double? FirstTokenSeconds => _firstToken == 0 ? null : Stopwatch.GetElapsedTime(_arrival, _firstToken).TotalSeconds;

    /// <summary>(last - first) / (tokens - 1); null with fewer than two tokens.</summary>
    public double? TimePerOutputTokenSeconds => OutputTokens < 2 ? null
        : Stopwatch.GetElapsedTime(_firstToken, _lastToken).TotalSeconds / (OutputTokens - 1);
}
