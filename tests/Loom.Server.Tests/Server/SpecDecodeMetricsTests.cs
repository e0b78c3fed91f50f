using Loom.Core.Scheduling;
using Loom.Engine;
using Loom.Server.Metrics;

namespace Loom.Server.Tests.Server;

/// <summary>Speculative decoding counters reach /metrics under vLLM's spec_decode_* names.</summary>
public class SpecDecodeMetricsTests
{
    [Fact]
    public async Task Spec_decode_counters_are_exported_with_vllm_names()
    {
        var stats = new EngineStats(1, 0, 10, 2, 0, 0, 5, 9)
        {
            SpecDecoding = new SpecDecodingSnapshot(NumDrafts: 4, NumDraftTokens: 12, NumAcceptedTokens: 6, AcceptedPerPosition: [3, 2, 1]),
        };
        var metrics = new ServerMetrics(() => stats);
        using var stream = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(stream);
        string text = System.Text.Encoding.UTF8.GetString(stream.ToArray());
        foreach (var line in new[]
                 {
                     "loom_spec_decode_num_drafts_total 4", "loom_spec_decode_num_draft_tokens_total 12",
                     "loom_spec_decode_num_accepted_tokens_total 6", "loom_spec_decode_num_accepted_tokens_per_pos_total{position=\"0\"} 3",
                     "loom_spec_decode_num_accepted_tokens_per_pos_total{position=\"2\"} 1", "loom_spec_decode_draft_acceptance_rate 0.5",
                     "loom_spec_decode_mean_acceptance_length 2.5",
                 })
            Assert.Contains("\n" + line + "\n", text);
    }
}
