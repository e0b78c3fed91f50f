using System.Text;
using Loom.Core.Requests;
using Loom.Engine;
using Loom.Engine.Output;
using Loom.Server.Api;
using Loom.Server.Hosting;

namespace Loom.Server.Endpoints;

/// <summary>
/// The choices of one API call as its engine outputs arrive, and the usage they add up to. Choice index = prompt index
/// * n + sample index, as OpenAI numbers them. Chat and completions, streamed or whole, fold every output through one
/// of these (<see cref="ConsumeAsync"/>), so they number, finish and count alike; the endpoints only shape what it
/// hands them into chunks or a response.
/// </summary>
internal sealed class ChoiceAccumulator
{
    private readonly ChoiceState[] _choices;
    private readonly int[] _promptTokens; // [prompts] each prompt's count (every output repeats it)
    private readonly int[] _cachedTokens; // [prompts] of which served from the prefix cache
    private int _completionTokens;

    /// <param name="keepOutput">Whether each choice keeps its text and token ids (a whole response needs them, a stream not).</param>
    public ChoiceAccumulator(int prompts, int n, bool keepOutput)
    {
        N = n;
        _promptTokens = new int[prompts];
        _cachedTokens = new int[prompts];
        _choices = new ChoiceState[prompts * n];
        for (int c = 0; c < _choices.Length; c++) _choices[c] = new ChoiceState(keepOutput);
    }

    /// <summary>Samples per prompt.</summary>
    public int N { get; }
    public int Count => _choices.Length;
    public ChoiceState this[int choice] => _choices[choice];

    public int ChoiceIndex(int promptIndex, int sampleIndex) => promptIndex * N + sampleIndex;

    /// <summary>Reads the call's outputs to the end, folding each in before the handlers see it.</summary>
    /// <param name="onOutput">Called once per output, before its deltas (completions' echo reads prompt logprobs here).</param>
    /// <param name="onDelta">Called per delta with its choice index.</param>
    public async Task ConsumeAsync(IAsyncEnumerable<PromptOutput> outputs, Func<PromptOutput, ValueTask>? onOutput,
        Func<int, CompletionDelta, ValueTask>? onDelta, CancellationToken cancellationToken)
    {
        await foreach (var output in outputs.WithCancellation(cancellationToken))
        {
            Add(output);
            if (onOutput is not null) await onOutput(output);
            if (onDelta is null) continue;
            foreach (var delta in output.Output.Deltas) await onDelta(ChoiceIndex(output.PromptIndex, delta.Index), delta);
        }
    }

    /// <summary>Folds one output in: its prompt's token counts, and each delta into its choice.</summary>
    public void Add(PromptOutput output)
    {
        var (promptIndex, o) = output;
        _promptTokens[promptIndex] = o.PromptTokens;
        _cachedTokens[promptIndex] = o.CachedPromptTokens;
        foreach (var delta in o.Deltas)
        {
            _completionTokens += delta.NewTokenIds.Count;
            _choices[ChoiceIndex(promptIndex, delta.Index)].Add(delta);
        }
    }

    /// <summary>Usage summed over the call's prompts; cached tokens are reported unless the server keeps them private.</summary>
    public Usage ToUsage(ServerOptions options) =>
        RequestFields.Usage(options, _promptTokens.Sum(), _completionTokens, _cachedTokens.Sum());
}

/// <summary>What one choice has produced so far.</summary>
internal sealed class ChoiceState(bool keepOutput)
{
    /// <summary>Its text (null unless kept). A completions echo writes the prompt here first.</summary>
    public StringBuilder? Text { get; } = keepOutput ? new StringBuilder() : null;
    /// <summary>Its output token ids (null unless kept).</summary>
    public List<int>? TokenIds { get; } = keepOutput ? [] : null;
    public int NumTokens { get; private set; }
    /// <summary>The engine's finish reason once it finished; null while running.</summary>
    public FinishReason? FinishReason { get; private set; }
    public StopReason StopReason { get; private set; }

    /// <summary>What a whole response reports: the finish reason, or abort for a choice the engine never finished.</summary>
    public FinishReason FinalReason => FinishReason ?? Core.Requests.FinishReason.Abort;

    public void Add(CompletionDelta delta)
    {
        Text?.Append(delta.NewText);
        TokenIds?.AddRange(delta.NewTokenIds);
        NumTokens += delta.NewTokenIds.Count;
        FinishReason ??= delta.FinishReason;
        if (StopReason.IsNone) StopReason = delta.StopReason;
    }
}
