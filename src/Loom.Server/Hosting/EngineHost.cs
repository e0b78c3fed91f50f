using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Engine.ToolCalls;

namespace Loom.Server.Hosting;

/// <summary>A loaded model with its engine running, as a <see cref="ServedModel"/> whose Owner stops the engine, then frees the model.</summary>
public static class EngineHost
{
    /// <param name="toolCallParser">--tool-call-parser; null = picked from the chat template.</param>
    /// <param name="kvFetcher">Pulls remote KV for do_remote_prefill requests; null = they are refused.</param>
    public static ServedModel Start(LoadedModel model, EngineOptions engineOptions, string? servedName = null,
        ToolCallParser? toolCallParser = null, Engine.KvTransfer.IKvBlockFetcher? kvFetcher = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var tokenizer = model.Tokenizer
            ?? throw new ArgumentException($"{model.Directory}: the server needs the model's tokenizer files.", nameof(model));
        var engine = new AsyncLlm(new LlmEngine(model.Executor, tokenizer, model.EosTokenIds, model.MaxModelLen, engineOptions,
            model.Draft?.Executor)
        {
            KvFetcher = kvFetcher, // set before the engine thread starts
        });
        return new ServedModel(servedName ?? model.Name, engine, tokenizer, model.ChatTemplate, model.GenerationConfig, model.MaxModelLen,
            toolCallParser)
        {
            Owner = new Ownership(engine, model),
            EosTokenIds = model.EosTokenIds,
        };
    }

    private sealed class Ownership(AsyncLlm engine, LoadedModel model) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await engine.DisposeAsync();
            model.Dispose();
        }
    }
}
