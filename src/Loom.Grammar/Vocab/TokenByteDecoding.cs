namespace Loom.Grammar.Vocab;

/// <summary>How a tokenizer's vocabulary strings spell bytes.</summary>
public enum TokenSpelling
{
    /// <summary>GPT-2 byte-level BPE (Qwen, Llama 3): each character stands for one byte through GPT-2's table.</summary>
    ByteLevel,
    /// <summary>SentencePiece (Llama 2, Mistral): '▁' is a space, "&lt;0xNN&gt;" is the raw byte NN, the rest is UTF-8.</summary>
    SentencePiece,
    /// <summary>The strings are the text itself, as UTF-8.</summary>
    Plain,
}

/// <summary>
/// Token strings as they appear in tokenizer.json's vocab, turned into the bytes each token contributes to the output.
/// Plain inputs only, so this project needs no tokenizer.
/// </summary>
public static class TokenByteDecoding
{
    private static readonly short[] ByteLevelCharToByte = BuildByteLevelTable();

    /// <param name="tokens">[vocab] the vocab string of each id, or null where an id has none.</param>
    /// <param name="isSpecial">Ids that are special/added control tokens: they get no bytes (never grammar output).</param>
    public static byte[]?[] Decode(IReadOnlyList<string?> tokens, TokenSpelling spelling, Func<int, bool> isSpecial)
    {
        var result = new byte[]?[tokens.Count];
        for (int id = 0; id < tokens.Count; id++)
            result[id] = tokens[id] is { } s && !isSpecial(id) ? Decode(s, spelling) : null;
        return result;
    }

    /// <summary>
    /// The spelling a vocabulary uses, from its strings: GPT-2's 'Ġ' (space) or 'Ċ' (newline) mean byte-level; '▁' or
    /// byte-fallback tokens mean SentencePiece; otherwise plain text.
    /// </summary>
    public static TokenSpelling GuessSpelling(IEnumerable<string?> tokens)
    {
        int byteLevel = 0, sentencePiece = 0;
        foreach (string? t in tokens)
        {
            if (t == null) continue;
            if (t.Contains('\u0120') || t.Contains('\u010A')) byteLevel++;
            if (t.Contains('\u2581') || (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal))) sentencePiece++;
        }
        return byteLevel == 0 && sentencePiece == 0 ? TokenSpelling.Plain
            : byteLevel >= sentencePiece ? TokenSpelling.ByteLevel : TokenSpelling.SentencePiece;
    }

    public static byte[] Decode(string token, TokenSpelling spelling) => spelling switch
    {
        TokenSpelling.ByteLevel => DecodeByteLevel(token),
        TokenSpelling.SentencePiece => DecodeSentencePiece(token),
        _ => System.Text.Encoding.UTF8.GetBytes(token),
    };

    private static byte[] DecodeByteLevel(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            char c = token[i];
            // A character outside GPT-2's alphabet (an added token's plain text) is taken as its UTF-8.
            if (c >= ByteLevelCharToByte.Length || ByteLevelCharToByte[c] < 0) return System.Text.Encoding.UTF8.GetBytes(token);
            bytes[i] = (byte)ByteLevelCharToByte[c];
        }
        return bytes;
    }

    private static byte[] DecodeSentencePiece(string token)
    {
        if (token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte raw))
            return [raw];
        return System.Text.Encoding.UTF8.GetBytes(token.Replace('\u2581', ' '));
    }

    /// <summary>GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100.. in order.</summary>
    private static short[] BuildByteLevelTable()
    {
        var map = new short[256 + 68];
        Array.Fill(map, (short)-1);
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[printable ? b : 256 + next++] = (short)b;
        }
        return map;
    }
}
