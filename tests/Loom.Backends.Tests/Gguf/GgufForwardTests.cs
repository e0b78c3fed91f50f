using Loom.Backends.Cpu;
using Loom.Backends.Tests.Cpu;
using Loom.Models.Gguf;

namespace Loom.Backends.Tests.Gguf;

/// <summary>
/// Each fixture model exported to GGUF and loaded back runs on the CPU backend: F32 gives the Hugging Face golden
/// logits like the safetensors checkpoint does; Q8_0 stays close and mostly agrees on the top token.
/// </summary>
public class GgufForwardTests
{
    public static TheoryData<string> Models => new(GoldenModel.Names);

    [Theory]
    [MemberData(nameof(Models))]
    public void F32GgufGivesTheGoldenLogits(string model)
    {
        using var m = GoldenModel.Load(model);
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "model.gguf");
        GgufExporter.Export(m.Weights, m.Config, path, GgmlType.F32);
        using var gguf = GgufWeightSource.Open(path);
        using var executor = new CpuBackend().LoadModel(gguf.Config, gguf, new KvCacheSpec(m.BlocksForAllCases(16), 16));
        var blocks = new BlockAllocator(executor.KvCache.NumBlocks, seed: 3);
        foreach (var c in m.Cases)
        {
            var logits = TestBatches.Step(executor, [new StepPart(new TestSequence(c.PromptIds), c.PromptIds.Length, AllLogits: true)], blocks);
            for (int p = c.FirstLogitsRow; p < c.PromptIds.Length; p++)
            {
                double error = GoldenModel.RelativeError(logits.AsSpan(p * m.Vocab, m.Vocab), c.LogitsRow(p, m.Vocab));
                Assert.True(error <= 1e-4, $"{model} case {c.Index} position {p}: relative error {error:E2}");
            }
        }
    }

    [Theory]
    [InlineData("llama-gqa", GgmlType.Q8_0, 0.05)]
    [InlineData("qwen2-bias-tied", GgmlType.Q8_0, 0.05)]
    [InlineData("phi3-fused", GgmlType.Q4_0, 0.3)]
    public void QuantizedGgufStaysClose(string model, GgmlType type, double tolerance)
    {
        using var m = GoldenModel.Load(model);
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "model.gguf");
        GgufExporter.Export(m.Weights, m.Config, path, type);
        using var gguf = GgufWeightSource.Open(path);
        using var executor = new CpuBackend().LoadModel(gguf.Config, gguf, new KvCacheSpec(m.BlocksForAllCases(16), 16));
        var blocks = new BlockAllocator(executor.KvCache.NumBlocks, seed: 3);
        foreach (var c in m.Cases)
        {
            var logits = TestBatches.Step(executor, [new StepPart(new TestSequence(c.PromptIds), c.PromptIds.Length, AllLogits: true)], blocks);
            for (int p = c.FirstLogitsRow; p < c.PromptIds.Length; p++)
            {
                double error = GoldenModel.RelativeError(logits.AsSpan(p * m.Vocab, m.Vocab), c.LogitsRow(p, m.Vocab));
                Assert.True(error <= tolerance, $"{model} {type} case {c.Index} position {p}: relative error {error:E2}");
            }
        }
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("loom-gguf-").FullName;
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
