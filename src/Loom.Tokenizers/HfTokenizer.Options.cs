namespace Loom.Tokenizers;

public sealed partial class HfTokenizer
{
    /// <summary>Encode with options: stops soon after <see cref="EncodeOptions.MaxTokens"/>; a cancelled token ends the work with OperationCanceledException.</summary>
    public int[] Encode(string text, EncodeOptions options)
    {
        options.Cancellation.ThrowIfCancellationRequested();
        using (EncodeCancellation.Enter(options.Cancellation)) return Encode(text, options.AddSpecialTokens, options.MaxTokens ?? int.MaxValue);
    }
}
