namespace Loom.Core.Requests;

/// <summary>
/// Something a waiting request needs before the scheduler may admit it: vLLM's WAITING_FOR_FSM (a grammar still
/// compiling) or WAITING_FOR_REMOTE_KVS (KV still arriving from a prefill node). The scheduler skips a request whose gate
/// is closed and admits others past it; it asks again every step.
/// </summary>
public interface IReadinessGate
{
    bool IsReady { get; }
}
