using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;
using Loom.Tests;

namespace Loom.Server.Tests.Server;

/// <summary>What `loom serve --model x.gguf` runs: a GGUF-loaded model behind the OpenAI API, chat template included.</summary>
public sealed class GgufServeTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("loom-serve-gguf-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public async Task A_gguf_model_answers_chat_completions_like_its_checkpoint()
    {
        string gguf = Path.Combine(_temp, "demo-f32.gguf");
        using (var weights = SafetensorsWeightSource.Open(RepoPaths.DemoModel))
            GgufExporter.Export(weights, ModelConfigLoader.Load(RepoPaths.DemoModel), gguf, GgmlType.F32,
                GgufTokenizerWriter.FromModelDirectory(RepoPaths.DemoModel));
        const string chat = """{"messages": [{"role":"user","content":"What is a KV cache?"}], "max_tokens": 8, "temperature": 0}""";

        async Task<(string Model, string Content)> Ask(string modelPath)
        {
            var engine = new EngineOptions { MaxNumSeqs = 4, KvCacheBytes = 4 << 20 };
            var model = ModelLoader.Load(modelPath, new LoaderOptions { Engine = engine, NumThreads = 1 });
            await using var server = await TestServers.StartAsync(EngineHost.Start(model, engine));
            await server.ModelReady;
            using var client = TestServers.Client(server);
            var (status, body) = await TestServers.PostAsync(client, "/v1/chat/completions", chat);
            Assert.Equal(200, status);
            return (body.GetProperty("model").GetString()!, body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!);
        }

        var fromGguf = await Ask(gguf);
        var fromCheckpoint = await Ask(RepoPaths.DemoModel);
        Assert.Equal("demo-f32", fromGguf.Model);
        Assert.NotEmpty(fromGguf.Content);
        Assert.Equal(fromCheckpoint.Content, fromGguf.Content);
    }
}
