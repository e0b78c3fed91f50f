using Loom.Engine.Loading;

namespace Loom.Engine;

public sealed partial class LlmEngine
{
    /// <summary>An engine over a loaded model: its executor, tokenizer, EOS ids and max model length.</summary>
    public static LlmEngine Create(LoadedModel model, EngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (options.BlockSize != model.Executor.KvCache.BlockSize)
            throw new ArgumentException(
                $"EngineOptions.BlockSize {options.BlockSize} differs from the loaded KV cache's block size {model.Executor.KvCache.BlockSize}.", "block_size");
        return new LlmEngine(model.Executor, model.Tokenizer, model.EosTokenIds, model.MaxModelLen, options, model.Draft?.Executor);
    }
}
