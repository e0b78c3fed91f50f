using System.Text.Json;
using Loom.Bench.Arrivals;

namespace Loom.Bench.Datasets;

/// <summary>
/// ShareGPT conversations: from a user's ShareGPT JSON file (--dataset-path: the first turn is the prompt, the second
/// the reference completion whose length becomes max_tokens), or, without a file, a synthetic mix whose lengths follow
/// ShareGPT's shape. Filtering as vLLM's is_valid_sequence: both lengths at least 4, prompt at most 1024, total at most
/// the max total length (2048), unless the output length is fixed by --sharegpt-output-len.
/// </summary>
public sealed class ShareGptDataset : IBenchDataset
{
    /// <summary>
    /// The synthetic mix is log-normal with sigma 1 (a long right tail, as chat logs have) and means equal to the ShareGPT
    /// statistics reported in the vLLM paper (Kwon et al. 2023, table 1): 161 input and 338 output tokens. An
    /// approximation of the real file's shape, not a copy of it.
    /// </summary>
    public const double SyntheticInputMean = 161, SyntheticOutputMean = 338, SyntheticSigma = 1.0;
    private const int MinLen = 4, MaxPromptLen = 1024;

    private readonly PromptFactory _prompts;
    private readonly int? _fixedOutputLen;
    private readonly int _maxTotalLen;
    private readonly IReadOnlyList<(string Prompt, string Completion)>? _conversations;

    public ShareGptDataset(PromptFactory prompts, string? path = null, int? fixedOutputLen = null, int maxTotalLen = 2048)
    {
        if (fixedOutputLen is < 1) throw new ArgumentOutOfRangeException(nameof(fixedOutputLen), fixedOutputLen, "--sharegpt-output-len must be at least 1.");
        if (maxTotalLen < 2 * MinLen) throw new ArgumentOutOfRangeException(nameof(maxTotalLen), maxTotalLen, $"the max total length must be at least {2 * MinLen}.");
        (_prompts, _fixedOutputLen, _maxTotalLen) = (prompts, fixedOutputLen, maxTotalLen);
        if (path is not null)
        {
            if (prompts.Tokenizer is null) throw new ArgumentException("a ShareGPT file needs a tokenizer to count tokens: pass --tokenizer or --model with a local checkpoint folder.", nameof(prompts));
            _conversations = LoadConversations(path);
        }
    }

    public string Name => "sharegpt";

    public bool IsSynthetic => _conversations is null;

    public IReadOnlyList<SampleRequest> Sample(int numRequests, Random rng) =>
        _conversations is null ? SampleSynthetic(numRequests, rng) : SampleFile(numRequests, rng);

    private IReadOnlyList<SampleRequest> SampleSynthetic(int numRequests, Random rng)
    {
        var normal = new GammaSampler(rng);
        var requests = new List<SampleRequest>(numRequests);
        while (requests.Count < numRequests)
        {
            int inputLen = LogNormal(normal, SyntheticInputMean);
            int outputLen = _fixedOutputLen ?? LogNormal(normal, SyntheticOutputMean);
            if (!IsValid(inputLen, outputLen)) continue;
            requests.Add(_prompts.Make(_prompts.RandomTokens(inputLen, rng), outputLen, rng));
        }
        return requests;
    }

    private IReadOnlyList<SampleRequest> SampleFile(int numRequests, Random rng)
    {
        var tokenizer = _prompts.Tokenizer!;
        var order = Enumerable.Range(0, _conversations!.Count).ToArray();
        rng.Shuffle(order);
        var requests = new List<SampleRequest>(numRequests);
        foreach (int index in order)
        {
            if (requests.Count == numRequests) break;
            var (prompt, completion) = _conversations[index];
            int promptLen = tokenizer.Encode(prompt).Length;
            int outputLen = _fixedOutputLen ?? tokenizer.Encode(completion).Length;
            if (!IsValid(promptLen, outputLen)) continue;
            requests.Add(new SampleRequest(BenchPrompt.OfText(prompt), promptLen, outputLen));
        }
        if (requests.Count < numRequests)
            throw new InvalidOperationException($"the ShareGPT file has only {requests.Count} usable conversations, fewer than --num-prompts {numRequests}.");
        return requests;
    }

    private bool IsValid(int promptLen, int outputLen) =>
        promptLen >= MinLen && promptLen <= MaxPromptLen
        && (_fixedOutputLen is not null || (outputLen >= MinLen && promptLen + outputLen <= _maxTotalLen));

    /// <summary>exp(mu + sigma * z) with mu chosen so the distribution's mean is the given mean.</summary>
    private static int LogNormal(GammaSampler normal, double mean)
    {
        double mu = Math.Log(mean) - SyntheticSigma * SyntheticSigma / 2;
        return (int)Math.Round(Math.Exp(mu + SyntheticSigma * normal.NextStandardNormal()));
    }

    private static List<(string, string)> LoadConversations(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ShareGPT file not found: {path}", path);
        using var stream = File.OpenRead(path);
        using var doc = JsonDocument.Parse(stream);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: a ShareGPT file is a JSON array of entries with \"conversations\".");
        var result = new List<(string, string)>();
        foreach (var entry in doc.RootElement.EnumerateArray())
        {
            if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("conversations", out var turns) || turns.ValueKind != JsonValueKind.Array) continue;
            if (turns.GetArrayLength() < 2) continue;
            string? prompt = TurnText(turns[0]), completion = TurnText(turns[1]);
            if (prompt is not null && completion is not null) result.Add((prompt, completion));
        }
        if (result.Count == 0) throw new InvalidDataException($"{path}: no entry has a \"conversations\" array of at least two turns with a \"value\".");
        return result;
    }

    private static string? TurnText(JsonElement turn) =>
        turn.ValueKind == JsonValueKind.Object && turn.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
