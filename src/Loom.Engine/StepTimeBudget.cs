namespace Loom.Engine;

/// <summary>
/// Sizes each step's token budget from measured step times so that a step stays near a target duration (SARATHI-Serve's
/// token budget derived from a time-between-tokens SLO, measured here at run time instead of by offline profiling).
/// Every running decode waits for the whole step, so the step's duration is the inter-token latency it inflicts.
/// <para>
/// Model: duration = a + b · tokens, fitted by least squares over the last <see cref="Window"/> steps (a: the fixed
/// cost of one pass, the weights streamed once; b: the cost per scheduled token). The next budget is the most tokens
/// whose predicted duration fits max(target, <see cref="DecodeHeadroom"/> × the predicted duration of the running
/// decodes alone), never below the running requests plus <see cref="MinPromptTokens"/> (prompts always advance) and
/// never above the cap (--max-num-batched-tokens). The second term keeps prompts moving when the decodes alone already
/// exceed the target (a large model, many users): the decodes then slow by at most that factor.
/// </para>
/// Pure arithmetic on the engine thread: a fixed ring of samples, no allocation per step.
/// </summary>
public sealed class StepTimeBudget
{
    /// <summary>Steps the fit remembers: enough to smooth noise, few enough to follow a change of load.</summary>
    public const int Window = 32;

    /// <summary>
    /// Prompt tokens a step may always add on top of its running requests, so that prompts advance whatever the fit
    /// says. One token, not a KV block: with 16 decodes on two cores a block of prompt tokens costs ~0.8 of a decode
    /// step, and that floor, not the target, made the p99 inter-token gap (docs/perf.md, "The step budget").
    /// </summary>
    public const int MinPromptTokens = 1;

    /// <summary>How much longer than the decodes alone a step may take when the target cannot hold them.</summary>
    public const double DecodeHeadroom = 1.25;

    private readonly double _targetSeconds;
    private readonly int _cap;
    private readonly int[] _tokens = new int[Window];
    private readonly double[] _seconds = new double[Window];
    private int _count, _next;

    /// <param name="target">The step duration to stay near.</param>
    /// <param name="cap">The most tokens one step may hold (the scheduler's max_num_batched_tokens).</param>
    public StepTimeBudget(TimeSpan target, int cap)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(target, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(cap, 1);
        _targetSeconds = target.TotalSeconds;
        _cap = cap;
    }

    /// <summary>Records one step that ran: its scheduled tokens and how long the forward pass and sampling took.</summary>
    public void Observe(int numTokens, TimeSpan elapsed)
    {
        if (numTokens <= 0) return;
        _tokens[_next] = numTokens;
        _seconds[_next] = elapsed.TotalSeconds;
        _next = (_next + 1) % Window;
        _count = Math.Min(_count + 1, Window);
    }

    /// <summary>
    /// The token budget of the next step, with <paramref name="numRunning"/> requests already running, of which
    /// <paramref name="numDecoding"/> have produced a token. With none decoding, no client waits between tokens, so
    /// the step takes the cap: the target would only cut prompts into more, dearer passes over the weights and delay
    /// every first token.
    /// </summary>
    public int NextBudget(int numRunning, int numDecoding)
    {
        int floor = Math.Min(_cap, numRunning + MinPromptTokens);
        if (_count == 0 || numDecoding == 0) return _cap; // nothing measured yet (the first steps are the measurement), or no gap to keep short
        var (a, b) = Fit();
        double decodesAlone = a + b * numRunning;
        double allowed = Math.Max(_targetSeconds, DecodeHeadroom * decodesAlone);
        double tokens = b > 0 ? (allowed - a) / b : _cap;
        return (int)Math.Clamp(Math.Floor(tokens), floor, _cap);
    }

    /// <summary>
    /// Least squares of duration on tokens. When the window's token counts barely vary the slope is unknowable, and the
    /// whole duration is charged to the tokens (a = 0), which overestimates the cost of a larger step: the safe side.
    /// Negative estimates (noise) are clamped the same way.
    /// </summary>
    private (double A, double B) Fit()
    {
        double sn = 0, st = 0;
        for (int i = 0; i < _count; i++)
        {
            sn += _tokens[i];
            st += _seconds[i];
        }
        double meanN = sn / _count, meanT = st / _count;
        double sxx = 0, sxy = 0;
        for (int i = 0; i < _count; i++)
        {
            double dn = _tokens[i] - meanN;
            sxx += dn * dn;
            sxy += dn * (_seconds[i] - meanT);
        }
        double proportional = meanT / meanN;
        // Token counts spread by under one token on average: no slope to be learnt.
        if (sxx < _count) return (0, proportional);
        double b = sxy / sxx, a = meanT - b * meanN;
        return a < 0 || b <= 0 ? (0, proportional) : (a, b);
    }
}
