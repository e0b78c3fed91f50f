using Loom.Backends;
using Loom.ChatTemplates;
using Loom.Models.Config;
using Loom.Models.Weights;
using Loom.Tokenizers;

namespace Loom.Engine.Loading;

/// <summary>
/// A model ready to serve: config, tokenizer, chat template, generation defaults and an executor holding the weights
/// and the paged KV cache. Dispose releases the executor and the weight files (in that order).
/// </summary>
/// <param name="Tokenizer">Null only when loaded with <see cref="LoaderOptions.RequireTokenizer"/> off and no tokenizer files.</param>
public sealed record LoadedModel(
    string Name,
    string Directory,
    ModelConfig Config,
    ITokenizer? Tokenizer,
    IChatTemplate? ChatTemplate,
    GenerationConfig GenerationConfig,
    IModelExecutor Executor,
    int MaxModelLen) : IDisposable
{
    /// <summary>Tokens that end generation: config.json's eos ∪ generation_config.json's eos ∪ the tokenizer's eos token.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>The backend that made <see cref="Executor"/> ("cpu", ...).</summary>
    public string BackendName { get; init; } = "";
    internal IWeightSource? Weights { get; init; }
    /// <summary>
    /// The draft model of --speculative-config method draft_model (its executor's KV cache has this one's blocks);
    /// null otherwise. Disposed with this model.
    /// </summary>
    public LoadedModel? Draft { get; init; }

    public void Dispose()
    {
        Draft?.Dispose();
        Executor.Dispose();
        Weights?.Dispose();
    }
}
