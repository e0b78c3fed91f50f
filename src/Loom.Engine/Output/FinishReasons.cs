namespace Loom.Engine.Output;

/// <summary>The finish reasons of the OpenAI API (and <see cref="CompletionDelta.FinishReason"/>).</summary>
public static class FinishReasons
{
    /// <summary>EOS, a stop token id, or a stop string.</summary>
    public const string Stop = "stop";
    /// <summary>max_tokens reached, or the sequence filled the model's context (max model len).</summary>
    public const string Length = "length";
    /// <summary>The client went away or cancelled.</summary>
    public const string Abort = "abort";
}
