using Loom.Engine.Loading;

namespace Loom.Engine;

public sealed partial class AsyncLlm
{
    /// <summary>
    /// Starts an engine thread over a loaded model. The model's executor fixes the KV cache shape (sized by the loader
    /// from the same options); the caller keeps ownership of <paramref name="model"/> and disposes it after this.
    /// </summary>
    public static AsyncLlm Create(LoadedModel model, EngineOptions options) => new(LlmEngine.Create(model, options));
}
