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

    [Fact]
    public void DefaultsAreValid() => Assert.Same(new SamplingParams() is var p ? p : null, p.Validate());
}
