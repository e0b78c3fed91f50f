using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Core.Sampling;
using Loom.Models.Config;
using Loom.Models.Weights;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Engine.Tests.Engine;

/// <summary>A fixture model loaded once per test process; engines over it with any cache shape and options.</summary>
internal sealed class FixtureModel
{
    private static readonly Dictionary<string, FixtureModel> Loaded = new();

    /// <summary>The name that stands for the demo model (models/demo) rather than a fixture.</summary>
    public const string Demo = "demo";

    private FixtureModel(string name)
    {
        string dir = name == Demo ? RepoPaths.DemoModel : RepoPaths.FixtureModel(name);
        Config = ModelConfigLoader.Load(dir);
        Weights = SafetensorsWeightSource.Open(dir); // kept for the process lifetime, shared by every test
        Tokenizer = HfTokenizer.FromDirectory(dir);
        EosTokenIds = [.. Config.EosTokenIds];
    }

    public ModelConfig Config { get; }
    public IWeightSource Weights { get; }
    public ITokenizer Tokenizer { get; }
    public IReadOnlyList<int> EosTokenIds { get; }

    public static FixtureModel Get(string name)
    {
        lock (Loaded)
        {
            if (!Loaded.TryGetValue(name, out var model)) Loaded[name] = model = new FixtureModel(name);
            return model;
        }
    }

    /// <summary>An engine over a fresh executor; the idle self-check is always on in tests.</summary>
    /// <param name="wrap">Wraps the executor (fault injection), when given.</param>
    /// <param name="eosTokenIds">The engine's EOS ids (default: the model's).</param>
    /// <param name="draft">The draft model of a draft_model config (its executor gets a cache of the same blocks).</param>
    public TestEngine CreateEngine(EngineOptions options, int numBlocks, int maxModelLen = 1024,
        Func<IModelExecutor, IModelExecutor>? wrap = null, IReadOnlyList<int>? eosTokenIds = null, DraftWeights? draft = null)
    {
        var kvCache = new KvCacheSpec(numBlocks, options.BlockSize);
        IModelExecutor executor = new CpuBackend(2).LoadModel(Config, Weights, kvCache);
        if (wrap is not null) executor = wrap(executor);
        var draftExecutor = draft is null ? null : new CpuBackend(2).LoadModel(draft.Config, draft.Weights, kvCache);
        return new TestEngine(executor, new LlmEngine(executor, Tokenizer, eosTokenIds ?? EosTokenIds, maxModelLen,
            options with { IdleSelfCheck = true }, draftExecutor), draftExecutor);
    }

    /// <summary>This model's weights quantized to Q4_0 (made once): the self-draft of issue 14.</summary>
    public DraftWeights Q4Draft
    {
        get
        {
            lock (Loaded) return _q4Draft ??= new DraftWeights(Config, QuantizedWeightSource.Quantize(Weights, DType.Q4_0));
        }
    }

    private DraftWeights? _q4Draft;

    /// <summary>This model itself as its draft.</summary>
    public DraftWeights SelfDraft => new(Config, Weights);

    /// <summary>A fresh CPU executor over the shared weights (for tests that drive the runner alone).</summary>
    public IModelExecutor CreateExecutor(int numBlocks, int blockSize) =>
        new CpuBackend(2).LoadModel(Config, Weights, new KvCacheSpec(numBlocks, blockSize));

    /// <summary>Deterministic pseudo-random prompt over the vocabulary (ids 3.. to avoid specials).</summary>
    public int[] Prompt(int length, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => random.Next(3, Config.VocabSize))];
    }
}

/// <summary>A draft model's config and weights (shared by the tests, never disposed by an engine).</summary>
internal sealed record DraftWeights(ModelConfig Config, IWeightSource Weights);

/// <summary>An engine and the executor it runs on; records every step's outputs and sampled logits rows.</summary>
internal sealed class TestEngine : IDisposable
{
    private readonly IModelExecutor _executor;
    private readonly IModelExecutor? _draftExecutor;

    public TestEngine(IModelExecutor executor, LlmEngine engine, IModelExecutor? draftExecutor = null)
    {
        _executor = executor;
        _draftExecutor = draftExecutor;
        Engine = engine;
        Engine.LogitsObserver = (request, logits) =>
        {
            string id = request.RequestId;
            if (!Logits.TryGetValue(id, out var rows)) Logits[id] = rows = [];
            rows.Add(logits.ToArray());
        };
    }

    public LlmEngine Engine { get; }
    /// <summary>Sequence id → one raw logits row per sampled token, in order.</summary>
    public Dictionary<string, List<float[]>> Logits { get; } = new();
    public Dictionary<string, List<int>> Tokens { get; } = new();
    public Dictionary<string, RequestOutput> Last { get; } = new();
    public Dictionary<string, string> Text { get; } = new();
    public Dictionary<string, int> CachedPromptTokens { get; } = new();
    public int Steps { get; private set; }

    public void Add(string id, int[] prompt, SamplingParams samplingParams, int priority = 0) =>
        Engine.AddRequest(new EngineRequest(id, prompt, samplingParams) { Priority = priority });

    public IReadOnlyList<RequestOutput> Step()
    {
        var outputs = Engine.Step();
        Steps++;
        foreach (var output in outputs)
        {
            CachedPromptTokens[output.RequestId] = output.CachedPromptTokens;
            Last[output.RequestId] = output;
            foreach (var delta in output.Deltas)
            {
                string key = delta.Index == 0 ? output.RequestId : $"{output.RequestId}#{delta.Index}";
                if (!Tokens.TryGetValue(key, out var list)) Tokens[key] = list = [];
                list.AddRange(delta.NewTokenIds);
                Text[key] = Text.GetValueOrDefault(key, "") + delta.NewText;
            }
        }
        return outputs;
    }

    public void RunToCompletion(int maxSteps = 10_000)
    {
        while (Engine.HasWork)
        {
            Assert.True(Steps < maxSteps, "engine made no progress");
            Step();
        }
    }

    public void Dispose()
    {
        _executor.Dispose();
        _draftExecutor?.Dispose();
    }
}
