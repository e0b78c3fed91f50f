using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Loom.Bench.Tests.Bench;

/// <summary>How <see cref="ClosingHttpServer"/> ends its keep-alive connections; none of them says Connection: close.</summary>
internal enum ConnectionClosing
{
    /// <summary>Closes each connection right after its first response (a keep-alive limit of one).</summary>
    AfterEachResponse,
    /// <summary>Keeps a connection open after a response for the idle time, then closes it (llama-server's keep-alive timeout).</summary>
    WhenIdle,
    /// <summary>
    /// Answers the first request of a connection; a second request on it is read and the connection closed without a
    /// byte of response: the race in which the server's idle timer fires while the client's next request is on the wire.
    /// </summary>
    OnSecondRequest,
}

/// <summary>
/// A bare HTTP/1.1 server on loopback over raw sockets, so the test controls exactly when a connection closes, which
/// ASP.NET Core does not let it do. Every POST gets one streamed completion of two chunks, a usage chunk and [DONE],
/// chunked and keep-alive.
/// </summary>
internal sealed class ClosingHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConnectionClosing _closing;
    private readonly TimeSpan _idle;
    private readonly Task _accepting;
    private int _connections, _responses, _dropped;

    public ClosingHttpServer(ConnectionClosing closing, TimeSpan idle = default)
    {
        _closing = closing;
        _idle = idle;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public string BaseUrl => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
    public int Connections => Volatile.Read(ref _connections);
    public int Responses => Volatile.Read(ref _responses);
    /// <summary>Requests read and then dropped by closing the connection.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    private async Task AcceptAsync()
    {
        var handlers = new List<Task>();
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                handlers.Add(ServeAsync(socket));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { }
        await Task.WhenAll(handlers);
    }

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        using var stream = new NetworkStream(socket);
        try
        {
            for (int served = 0; ; served++)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                if (served > 0 && _closing == ConnectionClosing.WhenIdle) idle.CancelAfter(_idle);
                if (!await ReadRequestAsync(stream, idle.Token)) return;
                if (served > 0 && _closing == ConnectionClosing.OnSecondRequest)
                {
                    Interlocked.Increment(ref _dropped);
                    return;
                }
                await stream.WriteAsync(Response, _stop.Token);
                Interlocked.Increment(ref _responses);
                if (_closing == ConnectionClosing.AfterEachResponse) return;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException) { }
    }

    /// <summary>Reads one request (headers and a Content-Length body); false when the client closed the connection first.</summary>
    private static async Task<bool> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0) return false;
            head.Append((char)one[0]);
        }
        const string lengthHeader = "content-length:";
        var length = head.ToString().Split("\r\n").FirstOrDefault(l => l.StartsWith(lengthHeader, StringComparison.OrdinalIgnoreCase));
        int bodyLength = length is null ? 0 : int.Parse(length[lengthHeader.Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await stream.ReadExactlyAsync(new byte[bodyLength], cancellationToken);
        return true;
    }

    private static readonly byte[] Response = BuildResponse();

    private static byte[] BuildResponse()
    {
        var body = new StringBuilder();
        foreach (string data in new[]
                 {
                     """{"choices":[{"index":0,"text":"a","finish_reason":null}]}""",
                     """{"choices":[{"index":0,"text":"b","finish_reason":"length"}]}""",
                     """{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}""",
                     "[DONE]",
                 })
        {
            string evt = "data: " + data + "\n\n";
            body.Append($"{Encoding.UTF8.GetByteCount(evt):x}\r\n{evt}\r\n");
        }
        body.Append("0\r\n\r\n");
        return Encoding.UTF8.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
