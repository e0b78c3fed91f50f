namespace Loom.Bench.Client;

/// <summary>
/// Reads the data payloads of a text/event-stream: lines "data: x" accumulate (joined by '\n') until a blank line ends
/// the event; comment lines (":" first) and other fields are skipped. A final event without its blank line still counts.
/// </summary>
public sealed class ServerSentEventReader(Stream stream)
{
    private readonly StreamReader _reader = new(stream, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 4096);

    /// <summary>The next event's data, or null at the end of the stream.</summary>
    public async ValueTask<string?> ReadEventAsync(CancellationToken cancellationToken)
    {
        string? data = null;
        while (true)
        {
            string? line = await _reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (line is null) return data;
            if (line.Length == 0)
            {
                if (data is not null) return data;
                continue;
            }
            if (line[0] == ':') continue;
            if (!line.StartsWith("data:", StringComparison.Ordinal)) continue;
            // The field value starts after "data:" and one optional space (the SSE specification).
            string value = line.Length > 5 && line[5] == ' ' ? line[6..] : line[5..];
            data = data is null ? value : data + "\n" + value;
        }
    }
}
