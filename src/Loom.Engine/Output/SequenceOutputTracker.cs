using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Tokenizers;

namespace Loom.Engine.Output;

/// <summary>
/// Output of one completion: token ids in, text out (vLLM's detokenizer and its stop-string check). Token-based stops
/// (length, EOS, stop token ids) are the scheduler's: each token arrives with its <see cref="StopCheck"/>, and the text
/// of a token that stopped the sequence (EOS or a stop id) is not emitted unless include_stop_str_in_output. A stop
/// string (only once min_tokens are out) is the tracker's own finding: it ends the output here and the engine tells
/// the scheduler to finish the request. A stop string may span tokens; the stop text and whatever follows it are not
/// emitted unless include_stop_str_in_output. Text that could still turn out to start a stop string is held back until
/// it cannot, and everything left is released when the sequence finishes.
/// </summary>
public sealed class SequenceOutputTracker
{
    private readonly SamplingParams _params;
    private readonly IIncrementalDecoder _decoder;
    private readonly int _longestStop; // chars of the longest stop string (0 without stop strings)
    private char[] _text = new char[64]; // [_length] decoded output kept so far (cut at a stop string)
    private int _length;
    private int _released;               // chars of _text already returned

    public SequenceOutputTracker(SamplingParams samplingParams, IIncrementalDecoder decoder)
    {
        ArgumentNullException.ThrowIfNull(samplingParams);
        ArgumentNullException.ThrowIfNull(decoder);
        _params = samplingParams;
        _decoder = decoder;
        _longestStop = samplingParams.Stop.Count == 0 ? 0 : samplingParams.Stop.Max(s => s.Length);
    }

    /// <summary>Everything released so far.</summary>
    public string Text => new(_text, 0, _released);
    public FinishReason? FinishReason { get; private set; }
    /// <summary>The stop string or stop token id that ended the sequence, if any.</summary>
    public StopReason StopReason { get; private set; }
    public bool IsFinished => FinishReason is not null;

    /// <summary>
    /// Takes the next output token, the <paramref name="numOutputTokens"/>-th, with the scheduler's verdict on it.
    /// Throws once the sequence has finished. A stop string found here finishes it (the caller ends the request).
    /// </summary>
    public OutputUpdate Append(int tokenId, int numOutputTokens, StopCheck stop)
    {
        if (IsFinished) throw new InvalidOperationException($"The sequence already finished ({FinishReason}); no token can follow.");
        int produced = numOutputTokens;
        if (stop.Status == RequestStatus.FinishedLength) FinishReason = Core.Requests.FinishReason.Length;
        else if (stop.Stopped)
            (FinishReason, StopReason) = (Core.Requests.FinishReason.Stop, stop.StopTokenId is { } id ? StopReason.TokenId(id) : StopReason.None);

        int searchFrom = Math.Max(0, _length - _longestStop + 1);
        bool stoppedByToken = FinishReason == Core.Requests.FinishReason.Stop;
        if (!stoppedByToken || _params.IncludeStopStrInOutput) AppendText(_decoder.Add(tokenId));
        if (IsFinished) AppendText(_decoder.Flush());
        if (produced > _params.MinTokens && _longestStop > 0) CutAtStopString(searchFrom);

        int end = IsFinished ? _length : _length - HeldBackLength();
        return new OutputUpdate(Release(end), FinishReason, StopReason);
    }

    /// <summary>Ends the sequence with <see cref="FinishReason.Abort"/>; text not yet released is dropped.</summary>
    public OutputUpdate Abort()
    {
        if (!IsFinished) FinishReason = Core.Requests.FinishReason.Abort;
        return new OutputUpdate("", FinishReason, StopReason);
    }

    /// <summary>Finds the earliest stop string starting at or after searchFrom; cuts the text there and finishes.</summary>
    private void CutAtStopString(int searchFrom)
    {
        var window = _text.AsSpan(searchFrom, _length - searchFrom);
        int bestStart = int.MaxValue;
        string? best = null;
        foreach (string stop in _params.Stop)
        {
            int at = window.IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at >= 0 && at < bestStart) (bestStart, best) = (at, stop);
        }
        if (best is null) return;
        int cut = searchFrom + bestStart + (_params.IncludeStopStrInOutput ? best.Length : 0);
        _length = Math.Max(cut, _released);
        FinishReason = Core.Requests.FinishReason.Stop;
        StopReason = StopReason.String(best);
    }

    /// <summary>Length of the longest unreleased suffix that is a proper prefix of a stop string.</summary>
    private int HeldBackLength()
    {
        if (_longestStop == 0 || _params.IncludeStopStrInOutput) return 0; // included stop text is emitted either way
        int max = Math.Min(_longestStop - 1, _length - _released);
        var text = _text.AsSpan(0, _length);
        for (int k = max; k > 0; k--)
        {
            var suffix = text[^k..];
            foreach (string stop in _params.Stop)
                if (stop.Length > k && stop.AsSpan().StartsWith(suffix, StringComparison.Ordinal)) return k;
        }
        return 0;
    }

    private void AppendText(string piece)
    {
        if (piece.Length == 0) return;
        if (_length + piece.Length > _text.Length) Array.Resize(ref _text, Math.Max(_text.Length * 2, _length + piece.Length));
        piece.CopyTo(_text.AsSpan(_length));
        _length += piece.Length;
    }

    private string Release(int end)
    {
        if (end <= _released) return "";
        string piece = new(_text, _released, end - _released);
        _released = end;
        return piece;
    }
}
