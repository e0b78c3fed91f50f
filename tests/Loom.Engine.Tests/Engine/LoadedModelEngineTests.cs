using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Engine.Loading;
using Loom.Tests;

namespace Loom.Engine.Tests.Engine;

public class LoadedModelEngineTests
{
    [Fact]
    public async Task AsyncLlmOverALoadedModelStreamsTextToTheEnd()
    {
        var options = new EngineOptions { BlockSize = 16, KvCacheBytes = 4 << 20, IdleSelfCheck = true };
        using var model = ModelLoader.Load(RepoPaths.FixtureModel("qwen2-bias-tied"), new LoaderOptions { Engine = options, NumThreads = 2 });
        await using var llm = AsyncLlm.Create(model, options);
        var prompt = model.Tokenizer!.Encode("The KV cache");
        var text = "";
        RequestOutput? last = null;
        await foreach (var output in llm.GenerateAsync(new EngineRequest("q", prompt, new SamplingParams { Temperature = 0, MaxTokens = 5, IgnoreEos = true })))
        {
            text += string.Concat(output.Deltas.Select(d => d.NewText));
            last = output;
        }
        Assert.True(last!.Finished);
        Assert.Equal(FinishReason.Length, last.Deltas[^1].FinishReason);
        Assert.Equal(5L, llm.GetStats().GenerationTokensTotal);
        Assert.NotEmpty(text);
    }
}
