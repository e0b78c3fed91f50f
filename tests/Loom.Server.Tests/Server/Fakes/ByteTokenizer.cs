using System.Text;
using Loom.Tokenizers;

namespace Loom.Server.Tests.Server.Fakes;

/// <summary>Test tokenizer: one token per UTF-8 byte (ids 0..255), plus BOS 256 and EOS 257.</summary>
internal sealed class ByteTokenizer : ITokenizer
{
    public const int Bos = 256, Eos = 257;
    public int VocabSize => 258;
    public string? BosToken => "<s>";
    public string? EosToken => "</s>";
    public int? BosTokenId => Bos;
    public int? EosTokenId => Eos;

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        var bytes = Encoding.UTF8.GetBytes(text).Select(b => (int)b);
        return (addSpecialTokens ? bytes.Prepend(Bos) : bytes).ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (id < 256) { bytes.Add((byte)id); continue; }
            text.Append(Encoding.UTF8.GetString(bytes.ToArray()));
            bytes.Clear();
            if (!skipSpecialTokens) text.Append(IdToToken(id));
        }
        return text.Append(Encoding.UTF8.GetString(bytes.ToArray())).ToString();
    }

    public string? IdToToken(int id) => id switch { Bos => BosToken, Eos => EosToken, < 256 and >= 0 => ((char)id).ToString(), _ => null };
    public int? TokenToId(string token) => token switch { "<s>" => Bos, "</s>" => Eos, _ => token.Length == 1 ? token[0] : null };
    public bool IsSpecial(int id) => id >= 256;
    public IIncrementalDecoder CreateIncrementalDecoder(bool skipSpecialTokens = true) => new Decoder(this, skipSpecialTokens);

    private sealed class Decoder(ByteTokenizer tokenizer, bool skip) : IIncrementalDecoder
    {
        private readonly List<int> _pending = [];
        public string Add(int tokenId)
        {
            _pending.Add(tokenId);
            var text = tokenizer.Decode(_pending.ToArray(), skip);
            if (text.EndsWith('\uFFFD')) return "";
            _pending.Clear();
            return text;
        }
        public string Flush()
        {
            var text = tokenizer.Decode(_pending.ToArray(), skip);
            _pending.Clear();
            return text;
        }
    }
}
