namespace Loom.Tokenizers;

/// <summary>
/// A tokenizer read from tokenizer.json (and tokenizer_config.json) that encodes and decodes as the Hugging Face
/// `tokenizers` library does: added tokens → normalizer → pre-tokenizer → BPE → post-processor; decoders on the way back.
/// Thread-safe: all state after construction is read-only except the word cache, which is concurrent.
/// </summary>
public sealed partial class HfTokenizer : ITokenizer
{
    private readonly BpeModel _model;
    private readonly AddedVocabulary _added;
    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly PostProcessor? _postProcessor;
    private readonly Decoder? _decoder;
    private readonly bool _mapBytesBeforeModel;   // the ByteLevel pre-tokenizer's byte mapping, done while feeding the model
    private readonly int _vocabSize;
    private readonly bool _cutBeforeSpaceRuns;    // split model input before each run of ▁ (SentencePiece speed-up)
    private const char SentencePieceSpace = '\u2581';

    public TokenizerConfig Config { get; }
    public int VocabSize => _vocabSize;
    public string? BosToken => Config.BosToken;
    public string? EosToken => Config.EosToken;
    public int? BosTokenId => BosToken is null ? null : TokenToId(BosToken);
    public int? EosTokenId => EosToken is null ? null : TokenToId(EosToken);

    /// <summary>Every entry of "added_tokens" (special or not).</summary>
    public IReadOnlyCollection<AddedToken> AddedTokens => _added.Tokens;

    public string? IdToToken(int id) => _added.ById(id)?.Content ?? _model.IdToToken(id);

    public int? TokenToId(string token) => _added.ByContent(token)?.Id ?? _model.TokenToId(token);

    public bool IsSpecial(int id) => _added.IsSpecial(id);

    public IIncrementalDecoder CreateIncrementalDecoder(bool skipSpecialTokens = true) => new IncrementalDecoder(this, skipSpecialTokens);

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeInto(text, ids);
        return addSpecialTokens && _postProcessor != null ? _postProcessor.Process(ids) : ids.ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if (skipSpecialTokens && _added.IsSpecial(id)) continue;
            if (IdToToken(id) is { } token) tokens.Add(token);
        }
        if (_decoder is null) return string.Join(' ', tokens);
        _decoder.DecodeChain(tokens);
        return string.Concat(tokens);
    }
}
