using System.Diagnostics;
using System.Text;

namespace Loom.Tokenizers;

/// <summary>
/// A tokenizer.json "decoder": rewrites the list of token strings (tokenizers' decode_chain); the final text is their
/// concatenation.
/// </summary>
internal abstract class Decoder
{
    public abstract void DecodeChain(List<string> tokens);

    public static Decoder? From(DecoderDefinition? definition) => definition switch
    {
        null => null,
        DecoderDefinition.Sequence s => new SequenceDecoder(s.Decoders.Select(d => From(d)!).ToArray()),
        DecoderDefinition.ByteLevel => new ByteLevelDecoder(),
        DecoderDefinition.Metaspace m => new MetaspaceDecoder(m.Replacement, m.Scheme),
        DecoderDefinition.Replace r => new ReplaceDecoder(TextPattern.From(r.Pattern), r.Content),
        DecoderDefinition.ByteFallback => new ByteFallbackDecoder(),
        DecoderDefinition.Fuse => new FuseDecoder(),
        DecoderDefinition.Strip s => new StripDecoder(s.Content, s.Start, s.Stop),
        _ => throw new UnreachableException($"decoder {definition}"),
    };
}

internal sealed class SequenceDecoder(Decoder[] decoders) : Decoder
{
    public override void DecodeChain(List<string> tokens)
    {
        foreach (var d in decoders) d.DecodeChain(tokens);
    }
}

/// <summary>Alphabet characters back to bytes, then UTF-8 with U+FFFD for invalid sequences (from_utf8_lossy).</summary>
internal sealed class ByteLevelDecoder : Decoder
{
    public override void DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var token in tokens) AppendBytes(token, bytes);
        tokens.Clear();
        tokens.Add(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)));
    }

    /// <summary>A token with any character outside the alphabet (e.g. an added token) contributes its own UTF-8.</summary>
    public static void AppendBytes(string token, List<byte> bytes)
    {
        foreach (char c in token)
        {
            if (ByteLevelAlphabet.TryGetByte(c, out _)) continue;
            bytes.AddRange(Encoding.UTF8.GetBytes(token));
            return;
        }
        foreach (char c in token)
        {
            ByteLevelAlphabet.TryGetByte(c, out byte b);
            bytes.Add(b);
        }
    }
}

internal sealed class MetaspaceDecoder(char replacement, PrependScheme scheme) : Decoder
{
    public override void DecodeChain(List<string> tokens)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            var sb = new StringBuilder(tokens[i].Length);
            foreach (char c in tokens[i])
            {
                if (c != replacement) sb.Append(c);
                else if (!(i == 0 && scheme != PrependScheme.Never)) sb.Append(' ');
            }
            tokens[i] = sb.ToString();
        }
    }
}

internal sealed class ReplaceDecoder(TextPattern pattern, string content) : Decoder
{
    public override void DecodeChain(List<string> tokens)
    {
        for (int i = 0; i < tokens.Count; i++) tokens[i] = pattern.Replace(tokens[i], content);
    }
}

/// <summary>Runs of &lt;0xXX&gt; tokens become their UTF-8 text, or one U+FFFD per byte when invalid.</summary>
internal sealed class ByteFallbackDecoder : Decoder
{
    public override void DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (var token in tokens)
        {
            if (TryParseByteToken(token, out byte b))
            {
                pending.Add(b);
                continue;
            }
            Flush(pending, output);
            output.Add(token);
        }
        Flush(pending, output);
        tokens.Clear();
        tokens.AddRange(output);
    }

    public static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out value);
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private static void Flush(List<byte> pending, List<string> output)
    {
        if (pending.Count == 0) return;
        try { output.Add(StrictUtf8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pending))); }
        catch (DecoderFallbackException) { for (int i = 0; i < pending.Count; i++) output.Add("\uFFFD"); }
        pending.Clear();
    }
}

internal sealed class FuseDecoder : Decoder
{
    public override void DecodeChain(List<string> tokens)
    {
        string fused = string.Concat(tokens);
        tokens.Clear();
        tokens.Add(fused);
    }
}

/// <summary>Removes up to `start` leading and `stop` trailing copies of a character from every token.</summary>
internal sealed class StripDecoder(char content, int start, int stop) : Decoder
{
    public override void DecodeChain(List<string> tokens)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            string t = tokens[i];
            int from = 0, to = t.Length;
            while (from < Math.Min(start, t.Length) && t[from] == content) from++;
            for (int k = 0; k < stop && to > from && t[to - 1] == content; k++) to--;
            tokens[i] = t[from..to];
        }
    }
}
