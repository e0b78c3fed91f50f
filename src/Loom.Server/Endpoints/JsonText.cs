using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Loom.Server.Api;

namespace Loom.Server.Endpoints;

/// <summary>
/// Refuses bodies whose text no string can hold: invalid or overlong UTF-8, and \uXXXX escapes that leave a lone
/// surrogate ("a\ud800b"). The JSON reader defers both until a string is read, so they used to surface wherever a
/// JsonElement was read (prompt, content, stop, template extras) as a 500 with a stack trace.
/// </summary>
internal static class JsonText
{
    public static void Check(ReadOnlySpan<byte> json)
    {
        if (!Utf8.IsValid(json))
            throw ApiException.BadRequest("The request body is not valid UTF-8.");
        var reader = new Utf8JsonReader(json);
        string? field = null;
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName)) continue;
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1) field = null;
                if (reader.ValueIsEscaped && !DecodesToValidText(ref reader))
                    throw ApiException.BadRequest(
                        $"{(field is null ? "The request body" : field)} holds a \\u escape that is not valid UTF-16 (a lone surrogate).", field);
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
                    field = Encoding.UTF8.GetString(reader.ValueSpan);
            }
        }
        catch (JsonException)
        {
            // Malformed JSON: the deserializer reports it with its position.
        }
    }

    private static bool DecodesToValidText(ref Utf8JsonReader reader)
    {
        try
        {
            reader.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
