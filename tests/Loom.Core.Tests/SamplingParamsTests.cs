using Loom.Core.Sampling;

namespace Loom.Core.Tests;

public class SamplingParamsTests
{
    [Theory]
    [InlineData("temperature")]
    [InlineData("top_p")]
    [InlineData("max_tokens")]
    [InlineData("n")]
    public void InvalidValueNamesTheField(string field)
    {
        var p = field switch
        {
            "temperature" => new SamplingParams { Temperature = -1 },
            "top_p" => new SamplingParams { TopP = 0 },
            "max_tokens" => new SamplingParams { MaxTokens = 0 },
            _ => new SamplingParams { N = 0 },
        };
        var ex = Assert.Throws<ArgumentException>(() => p.Validate());
        Assert.Equal(field, ex.ParamName);
    }

    [Theory]
    [InlineData(-1, 1f)]
    [InlineData(5, 100.5f)]
    [InlineData(5, float.NaN)]
    [InlineData(5, float.NegativeInfinity)]
    public void InvalidLogitBiasNamesTheField(int id, float bias)
    {
        var p = new SamplingParams { LogitBias = new Dictionary<int, float> { [id] = bias } };
        Assert.Equal("logit_bias", Assert.Throws<ArgumentException>(() => p.Validate()).ParamName);
    }

    [Fact]
    public void LogitBiasAtTheBoundsIsValid() =>
        new SamplingParams { LogitBias = new Dictionary<int, float> { [0] = -100, [7] = 100 } }.Validate();

    [Fact]
    public void DefaultsAreValid() => Assert.Same(new SamplingParams() is var p ? p : null, p.Validate());
}
