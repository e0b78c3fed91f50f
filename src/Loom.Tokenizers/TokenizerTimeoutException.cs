namespace Loom.Tokenizers;

/// <summary>
/// A regex of the tokenizer's own files (a Split pre-tokenizer, a Replace normalizer or decoder) ran past
/// <see cref="TextPattern.MatchTimeout"/> on one match of the input: the model's tokenizer is unfit for this text. The
/// request fails with this message; nothing else is affected.
/// </summary>
public sealed class TokenizerTimeoutException(string message, Exception? inner = null) : Exception(message, inner);
