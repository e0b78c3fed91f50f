namespace Loom.Core.Requests;

/// <summary>
/// Why a completion ended, from the scheduler's status to the API's JSON (where it is spelled "stop", "length",
/// "abort", and only there).
/// </summary>
public enum FinishReason
{
    /// <summary>EOS, a stop token id, or a stop string.</summary>
    Stop,
    /// <summary>max_tokens reached, or the sequence filled the model's context (max_model_len).</summary>
    Length,
    /// <summary>The client went away or cancelled, or the request failed.</summary>
    Abort,
    /// <summary>
    /// The model stopped after writing tool calls: decided by the chat front end's tool-call parser, never by the
    /// engine (which reports Stop for such an output).
    /// </summary>
    ToolCalls,
}
