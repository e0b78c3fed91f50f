using Loom.Bench.Datasets;

namespace Loom.Bench.Tests.Bench;

public class DatasetTests
{
    private static readonly PromptFactory Ids = new(vocabSize: 4096, PromptFormat.TokenIds);

    [Fact]
    public void Random_dataset_with_ratio_zero_has_exact_lengths()
    {
        var requests = new RandomDataset(Ids, inputLen: 64, outputLen: 16).Sample(30, new Random(1));
        Assert.Equal(30, requests.Count);
        Assert.All(requests, r =>
        {
            Assert.Equal(64, r.PromptLen);
            Assert.Equal(64, r.Prompt.TokenIds!.Count);
            Assert.Equal(16, r.ExpectedOutputLen);
            Assert.All(r.Prompt.TokenIds, id => Assert.InRange(id, 0, 4095));
        });
    }

    [Fact]
    public void Random_dataset_lengths_cover_the_vllm_range()
    {
        var dataset = new RandomDataset(Ids, 100, 10, rangeRatio: 0.5);
        Assert.Equal((50, 150), dataset.InputRange);
        Assert.Equal((5, 15), dataset.OutputRange);
        var requests = dataset.Sample(2000, new Random(2));
        Assert.Equal(50, requests.Min(r => r.PromptLen));
        Assert.Equal(150, requests.Max(r => r.PromptLen));
        Assert.InRange(requests.Average(r => r.PromptLen), 97, 103);
        Assert.Equal(15, requests.Max(r => r.ExpectedOutputLen));
    }

    [Fact]
    public void Random_prefix_is_shared_by_every_request()
    {
        var requests = new RandomDataset(Ids, 8, 4, prefixLen: 32).Sample(5, new Random(3));
        var prefix = requests[0].Prompt.TokenIds!.Take(32).ToArray();
        Assert.All(requests, r => Assert.Equal(prefix, r.Prompt.TokenIds!.Take(32)));
        Assert.All(requests, r => Assert.Equal(40, r.PromptLen));
    }

    [Fact]
    public void Same_seed_same_workload() =>
        Assert.Equal(new RandomDataset(Ids, 20, 5, 0.3).Sample(10, new Random(5)).Select(r => r.Prompt.TokenIds!.ToArray()),
                     new RandomDataset(Ids, 20, 5, 0.3).Sample(10, new Random(5)).Select(r => r.Prompt.TokenIds!.ToArray()));

    [Fact]
    public void Prefix_repetition_reuses_num_prefixes_system_prompts_round_robin()
    {
        var requests = new PrefixRepetitionDataset(Ids, prefixLen: 100, suffixLen: 20, numPrefixes: 3, outputLen: 8).Sample(12, new Random(4));
        Assert.All(requests, r => Assert.Equal(120, r.PromptLen));
        var groups = requests.GroupBy(r => string.Join(',', r.Prompt.TokenIds!.Take(100))).ToArray();
        Assert.Equal(3, groups.Length);
        Assert.All(groups, g => Assert.Equal(4, g.Count()));
        // suffixes differ, so only the prefix is shared
        Assert.Equal(12, requests.Select(r => string.Join(',', r.Prompt.TokenIds!)).Distinct().Count());
    }

    [Fact]
    public void Synthetic_sharegpt_has_a_long_tailed_length_mix_within_vllm_limits()
    {
        var requests = new ShareGptDataset(Ids).Sample(3000, new Random(6));
        Assert.All(requests, r =>
        {
            Assert.InRange(r.PromptLen, 4, 1024);
            Assert.InRange(r.ExpectedOutputLen, 4, 2048 - r.PromptLen);
        });
        // Log-normal with sigma 1: the median is exp(mu) = mean / e^0.5; the mean sits well above the median.
        double inputMedian = requests.Select(r => (double)r.PromptLen).Order().ElementAt(requests.Count / 2);
        Assert.InRange(inputMedian, 161 / Math.Exp(0.5) * 0.9, 161 / Math.Exp(0.5) * 1.1);
        Assert.True(requests.Average(r => r.PromptLen) > 1.3 * inputMedian);
        double outputMedian = requests.Select(r => (double)r.ExpectedOutputLen).Order().ElementAt(requests.Count / 2);
        Assert.InRange(outputMedian, 338 / Math.Exp(0.5) * 0.85, 338 / Math.Exp(0.5) * 1.1);
    }

    [Fact]
    public void Sharegpt_output_len_override_fixes_every_output()
    {
        var requests = new ShareGptDataset(Ids, fixedOutputLen: 32, maxTotalLen: 512).Sample(100, new Random(7));
        Assert.All(requests, r => Assert.Equal(32, r.ExpectedOutputLen));
    }

    [Fact]
    public void Sharegpt_file_without_a_tokenizer_is_a_clear_error()
    {
        var e = Assert.Throws<ArgumentException>(() => new ShareGptDataset(Ids, path: "conversations.json"));
        Assert.Contains("tokenizer", e.Message);
    }

    [Fact]
    public void Embedded_burstgpt_trace_parses_and_keeps_gpt4_rows_with_a_response()
    {
        var rows = BurstGptDataset.LoadEmbedded();
        Assert.Equal(400, rows.Count);
        Assert.Contains(rows, r => r.Model == "ChatGPT");
        Assert.Contains(rows, r => r.ResponseTokens == 0);
        var dataset = new BurstGptDataset(Ids, rows);
        Assert.All(dataset.Rows, r => { Assert.Equal("GPT-4", r.Model); Assert.True(r.ResponseTokens > 0); });
        var requests = dataset.Sample(50, new Random(8));
        Assert.All(requests, r => Assert.Contains(dataset.Rows, row => row.RequestTokens == r.PromptLen && row.ResponseTokens == r.ExpectedOutputLen));
        Assert.All(requests, r => Assert.True(r.PromptLen + r.ExpectedOutputLen <= 1024));
    }

    [Fact]
    public void Burstgpt_replay_keeps_time_order_and_timestamps()
    {
        var dataset = new BurstGptDataset(Ids, BurstGptDataset.LoadEmbedded(), replayTimestamps: true);
        var requests = dataset.Sample(40, new Random(9));
        var stamps = requests.Select(r => r.TraceTimestamp!.Value).ToArray();
        Assert.Equal(stamps.Order(), stamps);
        Assert.Equal(dataset.Rows.Take(40).Select(r => r.Timestamp), stamps);
    }

    [Fact]
    public void Burstgpt_csv_errors_name_the_file_line_and_column()
    {
        const string csv = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,GPT-4,12,5,17,API log\n2,GPT-4,many,5,17,API log\n";
        var e = Assert.Throws<InvalidDataException>(() => BurstGptDataset.ParseCsv(new StringReader(csv), "trace.csv"));
        Assert.Contains("trace.csv:3", e.Message);
        Assert.Contains("Request tokens", e.Message);
        var missing = Assert.Throws<InvalidDataException>(() => BurstGptDataset.ParseCsv(new StringReader("Timestamp,Model\n"), "t.csv"));
        Assert.Contains("Request tokens", missing.Message);
    }
}
