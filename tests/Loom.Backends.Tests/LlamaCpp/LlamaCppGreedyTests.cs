using Loom.Models.Gguf;
using Xunit.Abstractions;

namespace Loom.Backends.Tests.LlamaCpp;

/// <summary>
/// llama.cpp as a second reference: on each GGUF file Loom exported (every fixture model and the demo model), Loom's
/// greedy choice at each step equals llama.cpp's greedy token, given the same context. F32: equal at every step whose
/// top-1/top-2 margin is at least 1e-3 (below that, float rounding may legitimately flip the choice). Q8_0: both
/// quantize differently (llama.cpp also quantizes activations to 8 bits), so agreement is reported and held to a floor.
/// Skips where node-llama-cpp cannot be installed (no node/npm, no registry).
/// </summary>
public sealed class LlamaCppGreedyTests(LlamaCppComparisonFixture fixture, ITestOutputHelper output)
    : IClassFixture<LlamaCppComparisonFixture>
{
    private const float MarginFloor = 1e-3f;
    private const float ConfidentMargin = 0.1f; // a step quantization error should not flip
    private const double Q8AgreementFloor = 0.9;
    private const double Q8ConfidentAgreementFloor = 0.98;

    public static TheoryData<string> Models => new(LlamaCppComparisonFixture.Models);

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void F32_GreedyTokensEqualLlamaCpp(string model)
    {
        LlamaCppHarness.RequireLlamaCpp();
        var comparison = fixture.Get(model, GgmlType.F32);
        int compared = 0, total = 0;
        foreach (var (c, index) in comparison.Cases.Select((c, i) => (c, i)))
        {
            for (int step = 0; step < c.LlamaTokens.Length; step++)
            {
                total++;
                if (c.LoomMargins[step] < MarginFloor || OutsideLlamaCppWindow(comparison, c, step)) continue;
                compared++;
                Assert.True(c.LoomTokens[step] == c.LlamaTokens[step],
                    $"{model} F32 prompt {index} step {step}: Loom {c.LoomTokens[step]}, llama.cpp {c.LlamaTokens[step]} (Loom margin {c.LoomMargins[step]:G3})");
            }
        }
        output.WriteLine($"{model} F32: {compared} of {total} steps compared, all equal");
        Assert.True(compared >= total / 2, $"{model} F32: only {compared} of {total} steps were comparable");
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Q8_0_GreedyTokensMostlyAgreeWithLlamaCpp(string model)
    {
        LlamaCppHarness.RequireLlamaCpp();
        var comparison = fixture.Get(model, GgmlType.Q8_0);
        int agree = 0, total = 0, confidentAgree = 0, confident = 0;
        foreach (var c in comparison.Cases)
        {
            for (int step = 0; step < c.LlamaTokens.Length; step++)
            {
                if (OutsideLlamaCppWindow(comparison, c, step)) continue;
                bool same = c.LoomTokens[step] == c.LlamaTokens[step];
                total++;
                if (same) agree++;
                if (c.LoomMargins[step] < ConfidentMargin) continue;
                confident++;
                if (same) confidentAgree++;
            }
        }
        double agreement = (double)agree / total, confidentAgreement = confident == 0 ? 1 : (double)confidentAgree / confident;
        output.WriteLine($"{model} Q8_0: {agree}/{total} steps agree ({agreement:P1}); with Loom margin >= {ConfidentMargin}: {confidentAgree}/{confident} ({confidentAgreement:P1})");
        Assert.True(agreement >= Q8AgreementFloor, $"{model} Q8_0: {agree}/{total} steps agree with llama.cpp");
        Assert.True(confidentAgreement >= Q8ConfidentAgreementFloor, $"{model} Q8_0: {confidentAgree}/{confident} confident steps agree with llama.cpp");
    }

    /// <summary>
    /// llama.cpp's "llama" architecture ignores {arch}.attention.sliding_window (Mistral's window is not implemented
    /// there), so once a step's context is longer than the window, llama.cpp is no reference for it.
    /// </summary>
    private static bool OutsideLlamaCppWindow(ModelComparison comparison, StepComparison c, int step) =>
        comparison.SlidingWindow is int window && c.PromptLength + step >= window;
}
