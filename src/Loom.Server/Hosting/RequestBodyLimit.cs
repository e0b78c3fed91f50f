namespace Loom.Server.Hosting;

/// <summary>
/// The default body limit, sized from the context window: a body far larger than any prompt that fits is refused with
/// 413 before it is buffered, parsed and tokenized (a 15.7 MB prompt used to cost ~560 MB of RSS).
/// </summary>
public static class RequestBodyLimit
{
    /// <summary>Bytes of JSON allowed per token of max_model_len: room for \uXXXX-escaped text and batched prompts.</summary>
    public const long BytesPerToken = 256;
    public const long Floor = 2L << 20;
    public const long Ceiling = 64L << 20;

    /// <summary>The explicit limit when set, else <see cref="BytesPerToken"/> per token of the window within [2 MiB, 64 MiB].</summary>
    public static long For(ServerOptions options, int? maxModelLen) =>
        options.MaxRequestBodyBytes ?? (maxModelLen is int len ? Math.Clamp(len * BytesPerToken, Floor, Ceiling) : Floor);

    /// <summary>What Kestrel enforces before the model is known: the largest any model may get.</summary>
    public static long Upper(ServerOptions options) => options.MaxRequestBodyBytes ?? Ceiling;
}
