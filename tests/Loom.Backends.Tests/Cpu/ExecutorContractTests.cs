using Loom.Backends.Cpu;
using Loom.Models;
using Loom.Models.Config;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Backends.Tests.Cpu;

/// <summary>The executor's side of the engine contract: input checks, logits row selection, block copies, lifetime.</summary>
public class ExecutorContractTests
{
    private static ForwardBatch OneSequence(int[] tokens, int[] blockTable) => new()
    {
        TokenIds = tokens,
        Positions = Enumerable.Range(0, tokens.Length).ToArray(),
        Seqs = [new SequenceSlice(0, tokens.Length, tokens.Length, blockTable)],
        LogitsIndices = [tokens.Length - 1],
    };

    public static TheoryData<string, string> BadBatches() => new()
    {
        { "token", "TokenIds[1]" },
        { "position", "Positions[2]" },
        { "shortTable", "BlockTable" },
        { "blockId", "BlockTable[0]" },
        { "logitsIndex", "LogitsIndices[0]" },
        { "uncovered", "Token 3" },
        { "logitsSpan", "logits" },
    };

    [Theory]
    [MemberData(nameof(BadBatches))]
    public void Forward_RejectsAMalformedBatch_NamingTheField(string defect, string named)
    {
        using var m = GoldenModel.Load("llama-gqa");
        using var executor = m.CreateExecutor(numBlocks: 8, blockSize: 2);
        int[] tokens = [5, 6, 7, 8];
        var batch = OneSequence(tokens, [0, 1]);
        int logitsLength = m.Vocab;
        batch = defect switch
        {
            "token" => new ForwardBatch { TokenIds = [5, m.Vocab, 7, 8], Positions = batch.Positions, Seqs = batch.Seqs, LogitsIndices = batch.LogitsIndices },
            "position" => new ForwardBatch { TokenIds = tokens, Positions = [0, 1, 5, 3], Seqs = batch.Seqs, LogitsIndices = batch.LogitsIndices },
            "shortTable" => OneSequence(tokens, [0]),
            "blockId" => OneSequence(tokens, [8, 1]),
            "logitsIndex" => new ForwardBatch { TokenIds = tokens, Positions = batch.Positions, Seqs = batch.Seqs, LogitsIndices = [4] },
            "uncovered" => new ForwardBatch { TokenIds = tokens, Positions = batch.Positions, Seqs = [new SequenceSlice(0, 3, 3, [0, 1])], LogitsIndices = [0] },
            _ => batch,
        };
        if (defect == "logitsSpan") logitsLength -= 1;

        var e = Assert.ThrowsAny<ArgumentException>(() => executor.Forward(batch, new float[logitsLength]));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Forward_WritesTheRequestedLogitsRowsInTheirOrder()
    {
        using var m = GoldenModel.Load("qwen3-qknorm");
        var prompt = m.Cases[2].PromptIds;
        using var all = m.CreateExecutor(16, 4);
        var allLogits = TestBatches.Step(all, [new StepPart(new TestSequence(prompt), prompt.Length, AllLogits: true)], new BlockAllocator(16, 1));

        using var some = m.CreateExecutor(16, 4);
        var batch = OneSequence(prompt, [3, 7, 1, 12, 5, 9, 2]);
        batch = new ForwardBatch { TokenIds = batch.TokenIds, Positions = batch.Positions, Seqs = batch.Seqs, LogitsIndices = [9, 2, 9] };
        var logits = new float[3 * m.Vocab];
        some.Forward(batch, logits);

        Assert.True(logits.AsSpan(0, m.Vocab).SequenceEqual(allLogits.AsSpan(9 * m.Vocab, m.Vocab)));
        Assert.True(logits.AsSpan(m.Vocab, m.Vocab).SequenceEqual(allLogits.AsSpan(2 * m.Vocab, m.Vocab)));
        Assert.True(logits.AsSpan(2 * m.Vocab, m.Vocab).SequenceEqual(allLogits.AsSpan(9 * m.Vocab, m.Vocab)));
    }

    [Fact]
    public void PromptChunkWantingNoLogits_ThenTheRest_EqualsTheWholePrompt()
    {
        using var m = GoldenModel.Load("llama-gqa");
        var prompt = m.Cases[2].PromptIds;
        using var whole = m.CreateExecutor(8, 8);
        var expected = new float[m.Vocab];
        whole.Forward(OneSequence(prompt, [0, 1, 2, 3]), expected);

        using var chunked = m.CreateExecutor(8, 8);
        int[] table = [5, 2, 7, 0];
        chunked.Forward(new ForwardBatch
        {
            TokenIds = prompt[..10],
            Positions = Enumerable.Range(0, 10).ToArray(),
            Seqs = [new SequenceSlice(0, 10, 10, table)],
            LogitsIndices = [],
        }, Span<float>.Empty);
        var actual = new float[m.Vocab];
        int rest = prompt.Length - 10;
        chunked.Forward(new ForwardBatch
        {
            TokenIds = prompt[10..],
            Positions = Enumerable.Range(10, rest).ToArray(),
            Seqs = [new SequenceSlice(0, rest, prompt.Length, table)],
            LogitsIndices = [rest - 1],
        }, actual);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void SlidingWindow_BlocksBeforeTheWindowAreNeverRead()
    {
        using var m = GoldenModel.Load("mistral-slidingwindow"); // window 32
        var c = m.Cases[^1]; // 200 tokens
        const int blockSize = 4;
        using var executor = m.CreateExecutor(numBlocks: 64, blockSize);
        var table = Enumerable.Range(0, 50).ToArray();
        var prompt = c.PromptIds;
        executor.Forward(new ForwardBatch
        {
            TokenIds = prompt[..150],
            Positions = Enumerable.Range(0, 150).ToArray(),
            Seqs = [new SequenceSlice(0, 150, 150, table)],
            LogitsIndices = [],
        }, Span<float>.Empty);

        // Position 150 sees keys 119..150: blocks 0..28 may be gone (marked -1 here, as an engine might free them).
        var trimmed = table.Select((b, i) => i < 119 / blockSize ? -1 : b).ToArray();
        var logits = new float[m.Vocab];
        int rest = prompt.Length - 150;
        executor.Forward(new ForwardBatch
        {
            TokenIds = prompt[150..],
            Positions = Enumerable.Range(150, rest).ToArray(),
            Seqs = [new SequenceSlice(0, rest, prompt.Length, trimmed)],
            LogitsIndices = [rest - 1],
        }, logits);

        Assert.True(GoldenModel.RelativeError(logits, c.LastRow(m.Vocab)) <= 1e-4);
    }

    [Fact]
    public void CopyBlocks_ForkedSequenceContinuesLikeTheOriginal()
    {
        using var m = GoldenModel.Load("mistral-slidingwindow");
        const int blockSize = 4;
        using var executor = m.CreateExecutor(numBlocks: 32, blockSize);
        var prompt = m.Cases[2].PromptIds; // 29 tokens: 7 full blocks and a partial one
        int fullBlocks = prompt.Length / blockSize;
        var original = Enumerable.Range(10, fullBlocks + 2).ToArray();
        executor.Forward(OneSequence(prompt, original), new float[m.Vocab]);

        // The fork shares the full blocks and gets a copy of the partial last block (copy-on-write).
        var fork = original[..fullBlocks].Append(3).Append(4).ToArray();
        executor.CopyBlocks([original[fullBlocks]], [3]);

        float[] Decode(int[] table)
        {
            var logits = new float[m.Vocab];
            executor.Forward(new ForwardBatch
            {
                TokenIds = [m.Cases[2].Greedy[0]],
                Positions = [prompt.Length],
                Seqs = [new SequenceSlice(0, 1, prompt.Length + 1, table)],
                LogitsIndices = [0],
            }, logits);
            return logits;
        }
        var fromOriginal = Decode(original);
        var fromFork = Decode(fork);

        Assert.Equal(fromOriginal, fromFork);
        Assert.Equal(m.Cases[2].Greedy[1], GoldenModel.ArgMax(fromFork));
    }

    [Fact]
    public void CopyBlocks_RejectsBlocksOutsideTheCache()
    {
        using var m = GoldenModel.Load("llama-gqa");
        using var executor = m.CreateExecutor(numBlocks: 4, blockSize: 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => executor.CopyBlocks([0], [4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => executor.CopyBlocks([-1], [0]));
        Assert.Throws<ArgumentException>(() => executor.CopyBlocks([0, 1], [2]));
    }

    [Fact]
    public void Dispose_IsIdempotent_AndForwardAfterItThrows()
    {
        using var m = GoldenModel.Load("llama-gqa");
        var executor = m.CreateExecutor(numBlocks: 4, blockSize: 2);
        executor.Dispose();
        executor.Dispose();
        Assert.Throws<ObjectDisposedException>(() => executor.Forward(OneSequence([1], [0]), new float[m.Vocab]));
    }

    [Fact]
    public void KvBytesPerBlock_CountsKAndVOfEveryLayerInFp32()
    {
        using var m = GoldenModel.Load("llama-gqa");
        long expected = (long)m.Config.NumHiddenLayers * 2 * 16 * m.Config.NumKeyValueHeads * m.Config.HeadDim * sizeof(float);
        Assert.Equal(expected, new CpuBackend().KvBytesPerBlock(m.Config, 16));
        Assert.Equal(expected / 2, new CpuBackend().KvBytesPerBlock(m.Config, 16, KvCacheDType.BFloat16));
    }
}

/// <summary>Binding weights to the config: clear errors for missing or misshapen tensors, and every family's names.</summary>
public class WeightBindingTests
{
    /// <summary>A fixture checkpoint with one tensor removed or replaced.</summary>
    private sealed class EditedWeights(IWeightSource inner, string name, TensorInfo? replacement) : IWeightSource
    {
        public IReadOnlyDictionary<string, TensorInfo> Tensors { get; } = Edit(inner, name, replacement);
        public TensorInfo Get(string n) => Tensors[n];
        public void Dispose() { }

        private static Dictionary<string, TensorInfo> Edit(IWeightSource inner, string name, TensorInfo? replacement)
        {
            var d = inner.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
            if (replacement == null) d.Remove(name); else d[name] = replacement;
            return d;
        }
    }

    [Fact]
    public void LoadModel_MissingTensor_NamesIt()
    {
        using var m = GoldenModel.Load("phi3-fused");
        const string name = "model.layers.1.mlp.gate_up_proj.weight";
        var e = Assert.Throws<ModelLoadException>(() =>
            new CpuBackend().LoadModel(m.Config, new EditedWeights(m.Weights, name, null), new KvCacheSpec(4, 4)));
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public unsafe void LoadModel_TensorWithWrongShape_NamesItAndBothShapes()
    {
        using var m = GoldenModel.Load("qwen2-bias-tied");
        const string name = "model.layers.0.self_attn.k_proj.bias";
        var real = m.Weights.Get(name);
        var wrong = new TensorInfo(name, real.DType, [real.Shape[0] / 2], real.Data, real.ByteLength / 2, real.File);
        var e = Assert.Throws<ModelLoadException>(() =>
            new CpuBackend().LoadModel(m.Config, new EditedWeights(m.Weights, name, wrong), new KvCacheSpec(4, 4)));
        Assert.Contains(name, e.Message);
        Assert.Contains($"[{real.Shape[0] / 2}]", e.Message);
    }

    public static TheoryData<string> Models() => new(GoldenModel.Names);

    /// <summary>The ckpt helper's dummy weights use the same names and shapes the forward binds, for every family.</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void DummyWeights_BindAndRun_ForEveryFamily(string model)
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel(model));
        using var weights = new DummyWeightSource(config, DType.BF16, seed: 7);
        using var executor = new CpuBackend().LoadModel(config, weights, new KvCacheSpec(4, 4));
        var logits = new float[config.VocabSize];
        executor.Forward(new ForwardBatch
        {
            TokenIds = [1, 2, 3],
            Positions = [0, 1, 2],
            Seqs = [new SequenceSlice(0, 3, 3, [2])],
            LogitsIndices = [2],
        }, logits);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        Assert.True(logits.Max() > logits.Min());
    }
}
