namespace Loom.Engine;

public sealed partial class AsyncLlm
{
    /// <summary>Longest nap while every runnable request waits for remote KV (arrivals wake the loop at once).</summary>
    private const int RemoteKvPollMs = 50;

    private void RunLoop()
    {
        try
        {
            while (true)
            {
                ApplyCommands();
                if (_stopping) break;
                _engine.ExpireLeases();
                if (!_engine.HasWork)
                {
                    _stats = _engine.GetStats();
                    _wake.Wait(_engine.MillisecondsToNextLeaseExpiry); // a held block's lease may end meanwhile
                    continue;
                }
                var outputs = _engine.Step();
                _stats = _engine.GetStats(); // before delivery: a client that saw its last output sees its tokens counted
                Deliver(outputs);
                if (_engine.AwaitsRemoteKv) _wake.Wait(RemoteKvPollMs); // an arrival or a command wakes it sooner
            }
            EndAllStreams(new ObjectDisposedException(nameof(AsyncLlm), "The engine was shut down before the request finished."));
        }
        catch (Exception e)
        {
            // A fault outside any one request (a kernel error, a failed idle self-check) may have corrupted the KV pool
            // or the executor: the engine stops for good, every stream sees why, health checks report it dead.
            var dead = new EngineDeadException(e);
            _fault = dead;
            EndAllStreams(dead);
            _died.TrySetResult(dead);
        }
    }

    private void ApplyCommands()
    {
        while (_commands.TryDequeue(out var command))
        {
            if (command.Request is { } request)
            {
                try
                {
                    _engine.AddRequest(request);
                }
                catch (Exception e)
                {
                    // Admission rolls back on failure, so any refusal (bad input or a fault) is this request's alone.
                    if (_streams.TryRemove(request.RequestId, out var rejected))
                        rejected.Writer.TryComplete(e is ArgumentException ? e : new RequestFailedException(request.RequestId, e));
                }
            }
            else if (command.Work is { } work)
            {
                work(_engine);
            }
            else if (command.AbortId is { } id && !_engine.Abort(id) && _streams.TryRemove(id, out var orphan))
            {
                orphan.Writer.TryComplete(); // never admitted or already finished: nothing to report
            }
        }
    }

    private void Deliver(IReadOnlyList<RequestOutput> outputs)
    {
        foreach (var output in outputs)
        {
            if (!_streams.TryGetValue(output.RequestId, out var channel)) continue;
            if (output.Error is null) channel.Writer.TryWrite(output);
            if (output.Finished && _streams.TryRemove(output.RequestId, out _)) channel.Writer.TryComplete(output.Error);
        }
    }

    private void EndAllStreams(Exception reason)
    {
        foreach (var id in _streams.Keys)
            if (_streams.TryRemove(id, out var channel)) channel.Writer.TryComplete(reason);
    }
}
