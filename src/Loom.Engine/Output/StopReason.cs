namespace Loom.Engine.Output;

/// <summary>
/// What ended a completion that stopped on its own request: a stop string, a stop token id, or neither (EOS, length,
/// abort: <see cref="None"/>, the default). A value, so carrying it per token costs nothing.
/// </summary>
public readonly record struct StopReason
{
    private StopReason(string? stopString, int? stopTokenId) => (StopString, StopTokenId) = (stopString, stopTokenId);

    /// <summary>No stop string or stop id ended it.</summary>
    public static StopReason None => default;

    /// <summary>The stop string that matched.</summary>
    public static StopReason String(string stop)
    {
        ArgumentNullException.ThrowIfNull(stop);
        return new(stop, null);
    }

    /// <summary>The stop_token_ids entry that was produced.</summary>
    public static StopReason TokenId(int tokenId) => new(null, tokenId);

    public string? StopString { get; }
    public int? StopTokenId { get; }

    public bool IsNone => StopString is null && StopTokenId is null;

    public override string ToString() => StopString ?? StopTokenId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none";
}
