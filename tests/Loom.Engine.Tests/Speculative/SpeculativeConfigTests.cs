using Loom.Engine.Speculative;

namespace Loom.Engine.Tests.Speculative;

public class SpeculativeConfigTests
{
    [Fact]
    public void Parses_vllm_ngram_keys()
    {
        var c = SpeculativeConfig.Parse("""{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":3,"prompt_lookup_min":2,"disable_by_batch_size":8}""");
        Assert.Equal(("ngram", 4, 3, 2, (int?)8), (c.Method, c.NumSpeculativeTokens, c.PromptLookupMax, c.PromptLookupMin, c.DisableByBatchSize));
    }

    [Theory]
    [InlineData("""{"method":"ngram","num_speculative_tokens":3}""", 5, 5)]
    [InlineData("""{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":4}""", 4, 4)]
    [InlineData("""{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_min":2}""", 2, 2)]
    public void Lookup_bounds_default_as_in_vllm(string json, int max, int min)
    {
        var c = SpeculativeConfig.Parse(json);
        Assert.Equal((max, min, (int?)null), (c.PromptLookupMax, c.PromptLookupMin, c.DisableByBatchSize));
    }

    [Theory]
    [InlineData("[1]", "speculative_config", "JSON object")]
    [InlineData("{not json", "speculative_config", "not valid JSON")]
    [InlineData("""{"num_speculative_tokens":3}""", "method", "required")]
    [InlineData("""{"method":"eagle","num_speculative_tokens":3}""", "method", "unknown method")]
    [InlineData("""{"method":"ngram","num_speculative_tokens":3,"adaptive_k":1}""", "adaptive_k", "true or false")]
    [InlineData("""{"method":"draft_model","num_speculative_tokens":3}""", "model", "required")]
    [InlineData("""{"method":"draft_model","model":"","num_speculative_tokens":3}""", "model", "required")]
    [InlineData("""{"method":"draft_model","model":"x"}""", "num_speculative_tokens", "required")]
    [InlineData("""{"method":"draft_model","model":"x","num_speculative_tokens":3,"quantization":"q2_k"}""", "quantization", "q4_0")]
    [InlineData("""{"method":"draft_model","model":"x","num_speculative_tokens":3,"quantization":4}""", "quantization", "string")]
    [InlineData("""{"method":"draft_model","model":"x","num_speculative_tokens":3,"prompt_lookup_max":2}""", "prompt_lookup_max", "does not apply")]
    [InlineData("""{"method":"ngram"}""", "num_speculative_tokens", "required")]
    [InlineData("""{"method":"ngram","num_speculative_tokens":0}""", "num_speculative_tokens", "[1, 64]")]
    [InlineData("""{"method":"ngram","num_speculative_tokens":"4"}""", "num_speculative_tokens", "integer")]
    [InlineData("""{"method":"ngram","num_speculative_tokens":2.5}""", "num_speculative_tokens", "integer")]
    [InlineData("""{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_min":0,"prompt_lookup_max":2}""", "prompt_lookup_min", "at least 1")]
    [InlineData("""{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_min":4,"prompt_lookup_max":2}""", "prompt_lookup_max", "at least prompt_lookup_min")]
    [InlineData("""{"method":"ngram","num_speculative_tokens":3,"disable_by_batch_size":0}""", "disable_by_batch_size", "at least 1")]
    [InlineData("""{"method":"ngram","num_speculative_tokens":3,"num_lookahead":2}""", "num_lookahead", "unknown key")]
    [InlineData("""{"method":"ngram","num_speculative_tokens":3,"model":"m"}""", "model", "does not apply")]
    public void Bad_input_is_an_error_naming_the_key(string json, string key, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => SpeculativeConfig.Parse(json));
        Assert.Equal(key, e.ParamName);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Draft_model_keys_are_read()
    {
        var c = SpeculativeConfig.Parse("""{"method":"draft_model","model":"d.gguf","num_speculative_tokens":3,"quantization":"Q4_0","disable_by_batch_size":8}""");
        Assert.Equal((true, "d.gguf", "q4_0", 3, (int?)8), (c.IsDraftModel, c.Model, c.Quantization, c.NumSpeculativeTokens, c.DisableByBatchSize));
        Assert.False(c.AdaptiveK);
        Assert.True(SpeculativeConfig.Parse("""{"method":"ngram","num_speculative_tokens":3,"adaptive_k":true}""").AdaptiveK);
    }
}
