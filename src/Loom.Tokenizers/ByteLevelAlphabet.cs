namespace Loom.Tokenizers;

/// <summary>
/// GPT-2's reversible byte ↔ printable-char table: printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100.. in order, so that every byte sequence becomes a string of visible characters.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>[256]: the character standing for each byte.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>[0x144]: the byte for each character of the alphabet, or -1 for characters outside it.</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    public static bool TryGetByte(char c, out byte b)
    {
        if (c < CharToByte.Length && CharToByte[c] >= 0)
        {
            b = (byte)CharToByte[c];
            return true;
        }
        b = 0;
        return false;
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + next++);
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[256 + 68];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (short)b;
        return map;
    }
}
