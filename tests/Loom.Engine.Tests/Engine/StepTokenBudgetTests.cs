namespace Loom.Engine.Tests.Engine;

public class StepTokenBudgetTests
{
    [Fact]
    public void Default_WithChunkedPrefill_IsTheStepTimeSizedBudget() =>
        Assert.Equal(EngineOptions.DefaultChunkedStepTokens, new EngineOptions().StepTokenBudget);

    [Fact]
    public void Default_WithoutChunkedPrefill_LetsA512TokenPromptFitOneStep() =>
        Assert.Equal(512, new EngineOptions { EnableChunkedPrefill = false }.StepTokenBudget);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GivenBudget_IsUsedInEitherMode(bool chunked) =>
        Assert.Equal(2048, new EngineOptions { MaxNumBatchedTokens = 2048, EnableChunkedPrefill = chunked }.StepTokenBudget);
}
