namespace Loom.Core.Requests;

public enum RequestStatus
{
    Waiting,
    Running,
    /// <summary>Evicted from the running set to free KV blocks; back in the waiting queue, recomputed later.</summary>
    Preempted,
    FinishedStopped,
    FinishedLength,
    FinishedAborted,
}

public static class RequestStatusExtensions
{
    public static bool IsFinished(this RequestStatus status) => status >= RequestStatus.FinishedStopped;

    /// <summary>The finish reason of a finished status; null while unfinished.</summary>
    public static FinishReason? FinishReason(this RequestStatus status) => status switch
    {
        RequestStatus.FinishedStopped => Requests.FinishReason.Stop,
        RequestStatus.FinishedLength => Requests.FinishReason.Length,
        RequestStatus.FinishedAborted => Requests.FinishReason.Abort,
        _ => null,
    };
}
