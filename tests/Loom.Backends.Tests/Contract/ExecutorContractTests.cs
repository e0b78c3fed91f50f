using Loom.Backends.Tests.Cpu;

namespace Loom.Backends.Tests.Contract;

/// <summary>
/// The executor's side of the engine contract: input checks, logits row selection, block copies, KV export/import,
/// lifetime. Abstract: every backend's executor inherits it (the CPU one in <c>CpuExecutorContractTests</c>; a device
/// backend's under its own trait, so machines without the device filter it out).
/// </summary>
public abstract class ExecutorContractTests
{
    /// <summary>The backend whose executors the suite checks.</summary>
    protected abstract IBackend Backend { get; }

    private protected IModelExecutor CreateExecutor(GoldenModel m, int numBlocks, int blockSize, KvCacheDType kvDType = KvCacheDType.Float32) =>
        Backend.LoadModel(m.Config, m.Weights, new KvCacheSpec(numBlocks, blockSize) { DType = kvDType });

    private static ForwardBatch OneSequence(int[] tokens, int[] blockTable) => ForwardBatch.Of(
        tokenIds: tokens,
        positions: Enumerable.Range(0, tokens.Length).ToArray(),
        seqs: [new SequenceSlice(0, tokens.Length, tokens.Length, blockTable)],
        logitsIndices: [tokens.Length - 1]);

    private static ForwardBatch DecodeOne(int token, int position, int[] blockTable) =>
        ForwardBatch.Of([token], [position], [new SequenceSlice(0, 1, position + 1, blockTable)], [0]);

    public static TheoryData<string, string> BadBatches() => new()
    {
        { "token", "TokenIds[1]" },
        { "position", "Positions[2]" },
        { "shortTable", "BlockTable" },
        { "blockId", "BlockTable[0]" },
        { "logitsIndex", "LogitsIndices[0]" },
        { "uncovered", "Token 3" },
    };

    [Theory]
    [MemberData(nameof(BadBatches))]
    public void Forward_RejectsAMalformedBatch_NamingTheField(string defect, string named)
    {
        using var m = GoldenModel.Load("llama-gqa");
        using var executor = CreateExecutor(m, numBlocks: 8, blockSize: 2);
        int[] tokens = [5, 6, 7, 8];
        int[] positions = [0, 1, 2, 3];
        SequenceSlice[] seqs = [new SequenceSlice(0, 4, 4, [0, 1])];
        var batch = defect switch
        {
            "token" => ForwardBatch.Of([5, m.Vocab, 7, 8], positions, seqs, [3]),
            "position" => ForwardBatch.Of(tokens, [0, 1, 5, 3], seqs, [3]),
            "shortTable" => OneSequence(tokens, [0]),
            "blockId" => OneSequence(tokens, [8, 1]),
            "logitsIndex" => ForwardBatch.Of(tokens, positions, seqs, [4]),
            "uncovered" => ForwardBatch.Of(tokens, positions, [new SequenceSlice(0, 3, 3, [0, 1])], [0]),
            _ => throw new ArgumentOutOfRangeException(nameof(defect), defect, null),
        };

        var e = Assert.ThrowsAny<ArgumentException>(() => executor.Forward(batch));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Forward_ReadsOnlyTheCountedPartOfACapacityBatch()
    {
        using var m = GoldenModel.Load("llama-gqa");
        var prompt = m.Cases[1].PromptIds;
        int[] table = [0, 1, 2, 3];
        using var exact = CreateExecutor(m, 8, 8);
        var expected = exact.Forward(OneSequence(prompt, table)).ToArray();

        // Capacity for more than this step, with stale entries past the counts that must not be read.
        var batch = new ForwardBatch(maxNumTokens: prompt.Length + 8, maxNumSeqs: 3, maxNumLogits: 4);
        batch.TokenIds.AsSpan().Fill(m.Vocab + 1);
        batch.LogitsIndices.AsSpan().Fill(999);
        prompt.CopyTo(batch.TokenIds, 0);
        for (int t = 0; t < prompt.Length; t++) batch.Positions[t] = t;
        batch.Seqs[0] = new SequenceSlice(0, prompt.Length, prompt.Length, table);
        batch.Seqs[1] = new SequenceSlice(0, 99, 99, [-1]);
        batch.LogitsIndices[0] = prompt.Length - 1;
        (batch.NumTokens, batch.NumSeqs, batch.NumLogits) = (prompt.Length, 1, 1);
        using var capacity = CreateExecutor(m, 8, 8);
        var actual = capacity.Forward(batch);

        Assert.Equal(m.Vocab, actual.Length);
        Assert.True(actual.SequenceEqual(expected));
    }

    [Fact]
    public void ForwardBatch_CountsBeyondCapacity_AreRefused()
    {
        var batch = new ForwardBatch(maxNumTokens: 4, maxNumSeqs: 2, maxNumLogits: 2);
        Assert.Equal("NumTokens", Assert.Throws<ArgumentOutOfRangeException>(() => batch.NumTokens = 5).ParamName);
        Assert.Equal("NumSeqs", Assert.Throws<ArgumentOutOfRangeException>(() => batch.NumSeqs = -1).ParamName);
        Assert.Equal("NumLogits", Assert.Throws<ArgumentOutOfRangeException>(() => batch.NumLogits = 3).ParamName);
    }

    [Fact]
    public void Forward_WritesTheRequestedLogitsRowsInTheirOrder()
    {
        using var m = GoldenModel.Load("qwen3-qknorm");
        var prompt = m.Cases[2].PromptIds;
        using var all = CreateExecutor(m, 16, 4);
        var allLogits = TestBatches.Step(all, [new StepPart(new TestSequence(prompt), prompt.Length, AllLogits: true)], new BlockAllocator(16, 1));

        using var some = CreateExecutor(m, 16, 4);
        var batch = ForwardBatch.Of(prompt, Enumerable.Range(0, prompt.Length).ToArray(),
            [new SequenceSlice(0, prompt.Length, prompt.Length, [3, 7, 1, 12, 5, 9, 2])], [9, 2, 9]);
        var logits = some.Forward(batch);

        Assert.Equal(3 * m.Vocab, logits.Length);
        Assert.True(logits.Slice(0, m.Vocab).SequenceEqual(allLogits.AsSpan(9 * m.Vocab, m.Vocab)));
        Assert.True(logits.Slice(m.Vocab, m.Vocab).SequenceEqual(allLogits.AsSpan(2 * m.Vocab, m.Vocab)));
        Assert.True(logits.Slice(2 * m.Vocab, m.Vocab).SequenceEqual(allLogits.AsSpan(9 * m.Vocab, m.Vocab)));
    }

    [Fact]
    public void PromptChunkWantingNoLogits_ThenTheRest_EqualsTheWholePrompt()
    {
        using var m = GoldenModel.Load("llama-gqa");
        var prompt = m.Cases[2].PromptIds;
        using var whole = CreateExecutor(m, 8, 8);
        var expected = whole.Forward(OneSequence(prompt, [0, 1, 2, 3])).ToArray();

        using var chunked = CreateExecutor(m, 8, 8);
        int[] table = [5, 2, 7, 0];
        var none = chunked.Forward(ForwardBatch.Of(prompt[..10], Enumerable.Range(0, 10).ToArray(), [new SequenceSlice(0, 10, 10, table)], []));
        Assert.Equal(0, none.Length);
        int rest = prompt.Length - 10;
        var actual = chunked.Forward(ForwardBatch.Of(
            tokenIds: prompt[10..],
            positions: Enumerable.Range(10, rest).ToArray(),
            seqs: [new SequenceSlice(0, rest, prompt.Length, table)],
            logitsIndices: [rest - 1])).ToArray();

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void SlidingWindow_BlocksBeforeTheWindowAreNeverRead()
    {
        using var m = GoldenModel.Load("mistral-slidingwindow"); // window 32
        var c = m.Cases[^1]; // 200 tokens
        const int blockSize = 4;
        using var executor = CreateExecutor(m, numBlocks: 64, blockSize);
        var table = Enumerable.Range(0, 50).ToArray();
        var prompt = c.PromptIds;
        executor.Forward(ForwardBatch.Of(prompt[..150], Enumerable.Range(0, 150).ToArray(), [new SequenceSlice(0, 150, 150, table)], []));

        // Position 150 sees keys 119..150: blocks 0..28 may be gone (marked -1 here, as an engine might free them).
        var trimmed = table.Select((b, i) => i < 119 / blockSize ? -1 : b).ToArray();
        int rest = prompt.Length - 150;
        var logits = executor.Forward(ForwardBatch.Of(
            tokenIds: prompt[150..],
            positions: Enumerable.Range(150, rest).ToArray(),
            seqs: [new SequenceSlice(0, rest, prompt.Length, trimmed)],
            logitsIndices: [rest - 1]));

        Assert.True(GoldenModel.RelativeError(logits, c.LastRow(m.Vocab)) <= 1e-4);
    }

    [Fact]
    public void CopyBlocks_ForkedSequenceContinuesLikeTheOriginal()
    {
        using var m = GoldenModel.Load("mistral-slidingwindow");
        const int blockSize = 4;
        using var executor = CreateExecutor(m, numBlocks: 32, blockSize);
        var prompt = m.Cases[2].PromptIds; // 29 tokens: 7 full blocks and a partial one
        int fullBlocks = prompt.Length / blockSize;
        var original = Enumerable.Range(10, fullBlocks + 2).ToArray();
        executor.Forward(OneSequence(prompt, original));

        // The fork shares the full blocks and gets a copy of the partial last block (copy-on-write).
        var fork = original[..fullBlocks].Append(3).Append(4).ToArray();
        executor.CopyBlocks([original[fullBlocks]], [3]);

        float[] Decode(int[] table) => executor.Forward(DecodeOne(m.Cases[2].Greedy[0], prompt.Length, table)).ToArray();
        var fromOriginal = Decode(original);
        var fromFork = Decode(fork);

        Assert.Equal(fromOriginal, fromFork);
        Assert.Equal(m.Cases[2].Greedy[1], GoldenModel.ArgMax(fromFork));
    }

    [Fact]
    public void CopyBlocks_RejectsBlocksOutsideTheCache()
    {
        using var m = GoldenModel.Load("llama-gqa");
        using var executor = CreateExecutor(m, numBlocks: 4, blockSize: 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => executor.CopyBlocks([0], [4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => executor.CopyBlocks([-1], [0]));
        Assert.Throws<ArgumentException>(() => executor.CopyBlocks([0, 1], [2]));
    }

    /// <summary>
    /// P/D disaggregation in miniature: executor A prefills, exports the prompt's blocks; B (same weights) imports them
    /// at other block ids; the next decode step then gives bit-identical logits on both.
    /// </summary>
    [Theory]
    [InlineData(KvCacheDType.Float32)]
    [InlineData(KvCacheDType.BFloat16)]
    public void ExportBlocks_ImportedIntoAnotherExecutor_GivesTheSameNextTokenLogits(KvCacheDType dtype)
    {
        using var m = GoldenModel.Load("qwen3-qknorm");
        const int blockSize = 4;
        using var prefill = CreateExecutor(m, numBlocks: 16, blockSize, dtype);
        using var decode = CreateExecutor(m, numBlocks: 16, blockSize, dtype);
        var prompt = m.Cases[2].PromptIds;
        int promptBlocks = (prompt.Length + blockSize - 1) / blockSize;
        int tableBlocks = (prompt.Length + 1 + blockSize - 1) / blockSize; // room for the decoded token
        var tableA = Enumerable.Range(1, tableBlocks).ToArray();
        var tableB = Enumerable.Range(0, tableBlocks).Select(i => 15 - 2 * i).ToArray(); // other ids, not contiguous
        int next = GoldenModel.ArgMax(prefill.Forward(OneSequence(prompt, tableA)));

        Assert.Equal(Backend.KvBytesPerBlock(m.Config, blockSize, dtype), prefill.BlockBytes);
        var wire = new byte[promptBlocks * prefill.BlockBytes];
        prefill.ExportBlocks(tableA.AsSpan(0, promptBlocks), wire);
        decode.ImportBlocks(tableB.AsSpan(0, promptBlocks), wire);

        var fromPrefill = prefill.Forward(DecodeOne(next, prompt.Length, tableA)).ToArray();
        var fromImport = decode.Forward(DecodeOne(next, prompt.Length, tableB)).ToArray();
        Assert.Equal(fromPrefill, fromImport);
    }

    [Fact]
    public void ExportAndImportBlocks_RejectBadBlocksAndShortBuffers()
    {
        using var m = GoldenModel.Load("llama-gqa");
        using var executor = CreateExecutor(m, numBlocks: 4, blockSize: 2);
        var buffer = new byte[2 * executor.BlockBytes];
        Assert.Throws<ArgumentOutOfRangeException>(() => executor.ExportBlocks([0, 4], buffer));
        Assert.Throws<ArgumentOutOfRangeException>(() => executor.ImportBlocks([-1], buffer));
        Assert.Equal("destination", Assert.ThrowsAny<ArgumentException>(() => executor.ExportBlocks([0, 1, 2], buffer)).ParamName);
        Assert.Equal("source", Assert.ThrowsAny<ArgumentException>(() => executor.ImportBlocks([0, 1, 2], buffer)).ParamName);
    }

    [Fact]
    public void Dispose_IsIdempotent_AndForwardAfterItThrows()
    {
        using var m = GoldenModel.Load("llama-gqa");
        var executor = CreateExecutor(m, numBlocks: 4, blockSize: 2);
        executor.Dispose();
        executor.Dispose();
        Assert.Throws<ObjectDisposedException>(() => executor.Forward(OneSequence([1], [0])));
        Assert.Throws<ObjectDisposedException>(() => executor.ExportBlocks([0], new byte[executor.BlockBytes]));
    }
}
