namespace Loom.Tokenizers;

/// <summary>How one <see cref="ITokenizer.Encode(string, EncodeOptions)"/> call runs.</summary>
/// <param name="AddSpecialTokens">Run the post-processor (e.g. prepend BOS).</param>
/// <param name="MaxTokens">Null: no limit. Encoding may stop soon after the ids pass this many (a word at a time); the result is then
/// a prefix of the full encoding, longer than the limit, without special tokens: a caller that refuses anything longer
/// need not pay for the rest.</param>
/// <param name="Cancellation">Stops the work (OperationCanceledException) when the caller, e.g. a client that left,
/// no longer wants the ids; checked between regex matches and words, so a long or hostile prompt stops promptly.</param>
public readonly record struct EncodeOptions(bool AddSpecialTokens = false, int? MaxTokens = null,
    CancellationToken Cancellation = default);

/// <summary>
/// The cancellation of the Encode call running on this thread. Encoding is synchronous and never nested, so the
/// stages deep inside (regex splits, the BPE word loop) check it here rather than every stage signature carrying it.
/// </summary>
internal static class EncodeCancellation
{
    [ThreadStatic] private static CancellationToken t_current;

    /// <summary>Makes <paramref name="token"/> the current one until the returned scope is disposed.</summary>
    public static Scope Enter(CancellationToken token)
    {
        var previous = t_current;
        t_current = token;
        return new Scope(previous);
    }

    public static void ThrowIfRequested() => t_current.ThrowIfCancellationRequested();

    public readonly struct Scope(CancellationToken previous) : IDisposable
    {
        public void Dispose() => t_current = previous;
    }
}
