namespace Loom.Models.Tokenization;

public sealed partial class HfTokenizer
{
    /// <summary>Encode with options; a cancelled token ends the work with OperationCanceledException.</summary>
    public int[] Encode(string text, EncodeOptions options)
    {
        options.Cancellation.ThrowIfCancellationRequested();
        using (EncodeCancellation.Enter(options.Cancellation)) return Encode(text, options.AddSpecialTokens);
    }
}
