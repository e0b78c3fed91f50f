using Loom.Backends.Cpu;
using Loom.Backends.Tests.Cpu;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Backends.Tests.Gguf;

/// <summary>
/// `--quantization q8_0|q4_0` (a safetensors checkpoint quantized while loading) computes what the same checkpoint
/// exported to a GGUF file of that type computes: the same blocks through the same kernels, so bit-identical logits.
/// Both stay close to the float (Hugging Face) logits: relative error per row at most 0.08 for Q8_0, 0.35 for Q4_0
/// (measured maxima 0.035-0.054 and 0.27-0.30: these tiny random models, with weights and, as in llama.cpp, the
/// activations of each matrix product quantized, are far more sensitive than trained ones).
/// </summary>
public class QuantizeOnLoadTests
{

    [Theory]
    [InlineData("llama-gqa", DType.Q8_0, 0.08)]
    [InlineData("qwen2-bias-tied", DType.Q8_0, 0.08)]
    [InlineData("qwen3-qknorm", DType.Q8_0, 0.08)]
    [InlineData("llama3-ropescaled", DType.Q4_0, 0.35)]
    [InlineData("phi3-fused", DType.Q4_0, 0.35)]
    [InlineData("mistral-slidingwindow", DType.Q4_0, 0.35)]
    public void LogitsEqualTheExportedGgufAndStayCloseToFloat(string model, DType type, double floatTolerance)
    {
        using var m = GoldenModel.Load(model);
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "model.gguf");
        GgufExporter.Export(m.Weights, m.Config, path, GgmlTypes.FromDType(type));

        using var quantized = QuantizedWeightSource.Quantize(SafetensorsWeightSource.Open(RepoPaths.FixtureModel(model)), type);
        Assert.Contains(quantized.Tensors.Values, t => t.DType == type);
        using var gguf = GgufWeightSource.Open(path);
        var fromLoad = AllLogits(m, m.Config, quantized);
        var fromGguf = AllLogits(m, gguf.Config, gguf);

        for (int c = 0; c < m.Cases.Length; c++)
        {
            var golden = m.Cases[c];
            for (int p = golden.FirstLogitsRow; p < golden.PromptIds.Length; p++)
            {
                var row = fromLoad[c].AsSpan(p * m.Vocab, m.Vocab);
                var ggufRow = fromGguf[c].AsSpan(p * m.Vocab, m.Vocab);
                Assert.True(row.SequenceEqual(ggufRow),
                    $"{model} {type} case {c} position {p}: {GoldenModel.RelativeError(row, ggufRow):E2} from the GGUF logits");
                double vsFloat = GoldenModel.RelativeError(row, golden.LogitsRow(p, m.Vocab));
                Assert.True(vsFloat <= floatTolerance, $"{model} {type} case {c} position {p}: {vsFloat:E2} from the float logits");
            }
        }
    }

    private static float[][] AllLogits(GoldenModel m, ModelConfig config, IWeightSource weights)
    {
        using var executor = new CpuBackend().LoadModel(config, weights, new KvCacheSpec(m.BlocksForAllCases(16), 16));
        var blocks = new BlockAllocator(executor.KvCache.NumBlocks, seed: 3);
        return m.Cases.Select(c =>
            TestBatches.Step(executor, [new StepPart(new TestSequence(c.PromptIds), c.PromptIds.Length, AllLogits: true)], blocks)).ToArray();
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("loom-quantize-").FullName;
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
