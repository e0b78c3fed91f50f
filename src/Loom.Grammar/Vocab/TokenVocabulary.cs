namespace Loom.Grammar.Vocab;

/// <summary>
/// The bytes each token id decodes to, and which ids end a sequence. Tokens with no bytes (special and control
/// tokens) are never allowed by a grammar; end-of-sequence ids are allowed exactly when the grammar can end.
/// </summary>
public sealed class TokenVocabulary
{
    private readonly byte[] _bytes;      // all tokens' bytes, concatenated
    private readonly int[] _offset;      // [size + 1] into _bytes

    public TokenVocabulary(IReadOnlyList<byte[]?> tokenBytes, IEnumerable<int> eosTokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenBytes);
        _offset = new int[tokenBytes.Count + 1];
        for (int i = 0; i < tokenBytes.Count; i++) _offset[i + 1] = _offset[i] + (tokenBytes[i]?.Length ?? 0);
        _bytes = new byte[_offset[^1]];
        for (int i = 0; i < tokenBytes.Count; i++) tokenBytes[i]?.CopyTo(_bytes, _offset[i]);
        EosTokenIds = [.. eosTokenIds.Distinct()];
        foreach (int eos in EosTokenIds)
            if ((uint)eos >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(eosTokenIds), eos, "EOS id outside the vocabulary");
        Trie = new TokenTrie(this);
    }

    public int Size => _offset.Length - 1;
    public int[] EosTokenIds { get; }
    /// <summary>ulongs in one mask over this vocabulary.</summary>
    public int MaskWords => (Size + 63) >> 6;
    internal TokenTrie Trie { get; }

    public ReadOnlySpan<byte> BytesOf(int tokenId) => _bytes.AsSpan(_offset[tokenId], _offset[tokenId + 1] - _offset[tokenId]);
}
