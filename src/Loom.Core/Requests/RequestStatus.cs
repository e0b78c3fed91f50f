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

    /// <summary>OpenAI finish_reason for a finished status ("stop", "length", "abort"), null while unfinished.</summary>
    public static string? FinishReason(this RequestStatus status) => status switch
    {
        RequestStatus.FinishedStopped => "stop",
        RequestStatus.FinishedLength => "length",
        RequestStatus.FinishedAborted => "abort",
        _ => null,
    };
}
