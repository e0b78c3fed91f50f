using System.Text.Json;
using Loom.Engine.ChatClient;
using Microsoft.Extensions.AI;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Loom.Server.Tests.Server;

/// <summary>
/// Microsoft.Extensions.AI's strict flag in process: AdditionalProperties["strict"] on the function or on ChatOptions,
/// where M.E.AI's OpenAI client reads it, makes a call under "auto" follow the function's schema once begun, as
/// "strict": true does over HTTP; FunctionInvokingChatClient then invokes the function with the enforced arguments.
/// </summary>
public sealed partial class ToolCallingTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Function_invocation_under_auto_enforces_a_strict_function_set_on_it_or_on_the_options(bool onFunction)
    {
        using var loom = ChatClient();
        using var client = new ChatClientBuilder(loom).UseFunctionInvocation().Build();
        var weather = new CityWeather(strict: onFunction ? true : null);
        var options = new ChatOptions { Tools = [weather] };
        if (!onFunction) options.AdditionalProperties = new() { ["strict"] = true };

        // The scripted model writes {"town": "Berlin"}; the grammar lets only the schema's arguments through.
        var response = await client.GetResponseAsync([new AiChatMessage(ChatRole.User, "What about Berlin?")], options);
        AssertArgumentsValid(CitySchema, Assert.Single(weather.Calls));
        Assert.Equal(ToolServerFixture.Answer, response.Messages[^1].Text);
    }

    [Fact]
    public async Task Function_invocation_under_auto_passes_a_non_strict_call_as_written_and_refuses_a_non_boolean_flag()
    {
        using var loom = ChatClient();
        using var client = new ChatClientBuilder(loom).UseFunctionInvocation().Build();
        var loose = new CityWeather(strict: false);
        await client.GetResponseAsync([new AiChatMessage(ChatRole.User, "What about Berlin?")],
            new ChatOptions { Tools = [loose], AdditionalProperties = new() { ["strict"] = true } }); // the function's own false wins
        Assert.Equal("{\"town\":\"Berlin\"}", Assert.Single(loose.Calls));

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => loom.GetResponseAsync([new AiChatMessage(ChatRole.User, "hi")],
            new ChatOptions { Tools = [new CityWeather(null)], AdditionalProperties = new() { ["strict"] = "yes" } }));
        Assert.Equal("tools", error.ParamName);
    }

    private LoomChatClient ChatClient() => new(fixture.Model.Engine, fixture.Model.Tokenizer, fixture.Model.ChatTemplate,
        new LoomChatClientOptions { MaxModelLen = fixture.Model.MaxModelLen, DefaultMaxTokens = 200, Grammars = fixture.Model.Grammars });

    /// <summary>get_weather over <see cref="CitySchema"/>, recording the arguments of every call (compact JSON).</summary>
    /// <param name="strict">AdditionalProperties["strict"]; null = not set.</param>
    private sealed class CityWeather(bool? strict) : AIFunction
    {
        private static readonly JsonSerializerOptions Compact = new(AIJsonUtilities.DefaultOptions) { WriteIndented = false };

        public List<string> Calls { get; } = [];
        public override string Name => "get_weather";
        public override string Description => "Weather for a city.";
        public override JsonElement JsonSchema { get; } = JsonDocument.Parse(CitySchema.ToString()).RootElement.Clone();
        public override IReadOnlyDictionary<string, object?> AdditionalProperties { get; } =
            strict is { } flag ? new Dictionary<string, object?> { ["strict"] = flag } : new Dictionary<string, object?>();

        protected override ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
        {
            Calls.Add(JsonSerializer.Serialize(new Dictionary<string, object?>(arguments), Compact));
            return ValueTask.FromResult<object?>(new { temperature = 21 });
        }
    }
}
