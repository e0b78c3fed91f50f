using Loom.Core.Sampling;

namespace Loom.Core.Scheduling;

/// <summary>
/// What the model runner produced for one <see cref="SchedulerOutput"/>, entry by entry in its Scheduled order:
/// a variable number of sampled tokens per entry (none for a prefill chunk, one for a decode, up to 1 + drafts when
/// speculative drafts are verified), their log-probabilities where asked for, prompt log-probabilities, and the drafts
/// proposed for each entry's next step.
/// </summary>
public sealed record ModelRunnerOutput
{
    private readonly int[] _offsets;     // [numScheduled + 1] entry i's tokens are _tokenIds[_offsets[i].._offsets[i + 1]]
    private readonly int[] _tokenIds;    // [total sampled]
    private readonly TokenLogprob?[]? _logprobs; // [total sampled], null when no entry asked for logprobs

    /// <param name="sampledTokenOffsets">[numScheduled + 1], ascending from 0: entry i owns tokens [offsets[i], offsets[i + 1]).</param>
    /// <param name="sampledTokenIds">[offsets[^1]] the sampled tokens, entry after entry.</param>
    /// <param name="logprobs">[offsets[^1]] or null: the log-probabilities of each sampled token (null where not asked for).</param>
    public ModelRunnerOutput(int[] sampledTokenOffsets, int[] sampledTokenIds, TokenLogprob?[]? logprobs = null)
    {
        ArgumentNullException.ThrowIfNull(sampledTokenOffsets);
        ArgumentNullException.ThrowIfNull(sampledTokenIds);
        if (sampledTokenOffsets.Length == 0 || sampledTokenOffsets[0] != 0 || sampledTokenOffsets[^1] != sampledTokenIds.Length)
            throw new ArgumentException($"Offsets must run from 0 to the {sampledTokenIds.Length} sampled tokens.", nameof(sampledTokenOffsets));
        for (int i = 1; i < sampledTokenOffsets.Length; i++)
            if (sampledTokenOffsets[i] < sampledTokenOffsets[i - 1])
                throw new ArgumentException($"Offsets must not decrease (entry {i - 1}: {sampledTokenOffsets[i - 1]} then {sampledTokenOffsets[i]}).", nameof(sampledTokenOffsets));
        if (logprobs is not null && logprobs.Length != sampledTokenIds.Length)
            throw new ArgumentException($"{logprobs.Length} logprob entries for {sampledTokenIds.Length} sampled tokens.", nameof(logprobs));
        _offsets = sampledTokenOffsets;
        _tokenIds = sampledTokenIds;
        _logprobs = logprobs;
    }

    /// <summary>Scheduled entries covered (equals the SchedulerOutput's Scheduled count).</summary>
    public int NumEntries => _offsets.Length - 1;

    /// <summary>
    /// Prompt log-probabilities scored this step, by request id: entries for consecutive prompt positions, continuing
    /// where the previous step's stopped (entry k scores prompt token first + k + 1). Empty on the usual path.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<TokenLogprob>> PromptLogprobs { get; init; } = Empty;

    private static readonly Dictionary<string, IReadOnlyList<TokenLogprob>> Empty = new();

    /// <summary>
    /// Requests whose row could not be sampled (NaN logits, a sampler fault), by id: their entries hold no token, and
    /// the engine ends each of them alone before the scheduler settles the step. Empty on the usual path.
    /// </summary>
    public IReadOnlyDictionary<string, Exception> SamplingFaults { get; init; } = NoFaults;

    private static readonly Dictionary<string, Exception> NoFaults = new();

    /// <summary>
    /// Tokens the runner's proposer drafted to follow each entry's last sampled token (speculative decoding): the
    /// scheduler keeps them on the request and schedules them with its next step. Null without speculation.
    /// </summary>
    public DraftTokens? Drafts { get; init; }

    /// <summary>The drafts proposed for entry <paramref name="index"/> (empty when none).</summary>
    public ReadOnlySpan<int> DraftTokenIds(int index) => Drafts is null ? default : Drafts.Of(index);

    /// <summary>The tokens sampled for scheduled entry <paramref name="index"/>, in order.</summary>
    public ReadOnlySpan<int> SampledTokenIds(int index) => _tokenIds.AsSpan(_offsets[index], _offsets[index + 1] - _offsets[index]);

    /// <summary>Their log-probabilities (entries null where the request did not ask), or empty when nobody asked.</summary>
    public ReadOnlySpan<TokenLogprob?> Logprobs(int index) =>
        _logprobs is null ? default : _logprobs.AsSpan(_offsets[index], _offsets[index + 1] - _offsets[index]);
}

/// <summary>Drafted tokens per scheduled entry, flattened like the sampled tokens.</summary>
public sealed class DraftTokens
{
    private readonly int[] _offsets;  // [numScheduled + 1] entry i's drafts are _tokenIds[_offsets[i].._offsets[i + 1]]
    private readonly int[] _tokenIds; // [total drafts]

    public DraftTokens(int[] offsets, int[] tokenIds)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        ArgumentNullException.ThrowIfNull(tokenIds);
        if (offsets.Length == 0 || offsets[0] != 0 || offsets[^1] != tokenIds.Length)
            throw new ArgumentException($"Draft offsets must run from 0 to the {tokenIds.Length} drafted tokens.", nameof(offsets));
        for (int i = 1; i < offsets.Length; i++)
            if (offsets[i] < offsets[i - 1])
                throw new ArgumentException($"Draft offsets must not decrease (entry {i - 1}).", nameof(offsets));
        _offsets = offsets;
        _tokenIds = tokenIds;
    }

    public int NumEntries => _offsets.Length - 1;

    public ReadOnlySpan<int> Of(int index) => _tokenIds.AsSpan(_offsets[index], _offsets[index + 1] - _offsets[index]);
}

/// <summary>
/// One request's outcome of a step, as the scheduler settled it (vLLM's EngineCoreOutput): how many of the runner's
/// tokens it took (all of them unless a stop came first), and whether it stopped.
/// </summary>
/// <param name="ScheduledIndex">Its entry in the SchedulerOutput / ModelRunnerOutput.</param>
/// <param name="NumNewTokens">Leading tokens of the entry's sampled tokens appended to the request.</param>
/// <param name="NumOutputTokens">Output tokens of the request after them.</param>
public readonly record struct RequestUpdate(string RequestId, int ScheduledIndex, int NumNewTokens, int NumOutputTokens, StopCheck Stop);
