using System.Text.RegularExpressions;

namespace Loom.Server.Hosting;

/// <summary>
/// The serializer's "could not be converted to System.Nullable`1[System.Int32]" in the words of JSON ("an integer"):
/// clients know JSON, not the server's .NET types.
/// </summary>
internal static partial class JsonTypeWords
{
    /// <summary>"an integer" etc. for a conversion failure message; null for any other message.</summary>
    public static string? ExpectedType(string serializerMessage)
    {
        var match = ConvertedTo().Match(serializerMessage);
        return match.Success ? Describe(match.Groups[1].Value) : null;
    }

    internal static string Describe(string dotnetType)
    {
        var t = NullableOf().Match(dotnetType) is { Success: true } n ? n.Groups[1].Value : dotnetType;
        return t switch
        {
            "System.Int32" => "an integer between -2147483648 and 2147483647",
            "System.Int64" => "an integer between -9223372036854775808 and 9223372036854775807",
            "System.Single" or "System.Double" or "System.Decimal" => "a number",
            "System.Boolean" => "a boolean (true or false)",
            "System.String" => "a string",
            "System.Text.Json.JsonElement" => "a JSON value",
            _ when t.StartsWith("System.Collections.Generic.List`1", StringComparison.Ordinal) || t.EndsWith("[]", StringComparison.Ordinal)
                => "a list",
            _ when t.StartsWith("System.Collections.Generic.Dictionary`2", StringComparison.Ordinal) => "an object",
            _ => "an object",
        };
    }

    [GeneratedRegex(@"could not be converted to ([^\s]+?)\.?(?:\s|$)")]
    private static partial Regex ConvertedTo();

    [GeneratedRegex(@"^System\.Nullable`1\[(.+)\]$")]
    private static partial Regex NullableOf();
}
