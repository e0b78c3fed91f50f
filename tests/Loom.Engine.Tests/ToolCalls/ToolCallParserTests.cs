using CsCheck;
using Loom.Engine.ToolCalls;

namespace Loom.Engine.Tests.ToolCalls;

/// <summary>
/// Each family's parser on canned model outputs: one call, parallel calls, text around them, malformed JSON left as
/// text; and every output fed in pieces (char by char, and random chunkings) gives what the whole text gives.
/// </summary>
public sealed class ToolCallParserTests
{
    private static readonly ToolCallParser Hermes = ToolCallParsers.ByName("hermes");
    private static readonly ToolCallParser Llama3 = ToolCallParsers.ByName("llama3_json");
    private static readonly ToolCallParser Mistral = ToolCallParsers.ByName("mistral");

    private static (string? Content, (string Name, string Arguments)[] Calls) Whole(ToolCallParser parser, string text, bool parallel = true)
    {
        var (content, calls) = ToolCallStream.ParseWhole(parser, text, parallel);
        return (content, calls.Select(c => (c.Name, c.Arguments)).ToArray());
    }

    [Fact]
    public void Hermes_reads_one_call()
    {
        var (content, calls) = Whole(Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        Assert.Null(content);
        Assert.Equal([("get_weather", "{\"city\": \"Paris\"}")], calls);
    }

    [Fact]
    public void Hermes_reads_parallel_calls_and_keeps_text_before_and_after()
    {
        var text = "Let me look both up.\n\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n"
            + "<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>\nDone.";
        var (content, calls) = Whole(Hermes, text);
        Assert.Equal("Let me look both up.\nDone.", content);
        Assert.Equal([("a", "{\"x\": 1}"), ("b", "{}")], calls);
    }

    [Fact]
    public void Hermes_keeps_only_the_first_call_without_parallel_calls()
    {
        var text = "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call><tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>";
        Assert.Equal([("a", "{}")], Whole(Hermes, text, parallel: false).Calls);
    }

    [Theory]
    [InlineData("<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": }\n</tool_call>")]   // broken JSON
    [InlineData("<tool_call>\n{\"arguments\": {}}\n</tool_call>")]                          // no name
    [InlineData("<tool_call>\n{\"name\": \"a\", \"arguments\": [1]}\n</tool_call>")]       // arguments not an object
    [InlineData("<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1")]              // cut off by max_tokens
    [InlineData("I would write <tool_call but not quite")]
    public void Hermes_leaves_malformed_calls_as_text(string text)
    {
        var (content, calls) = Whole(Hermes, text);
        Assert.Empty(calls);
        Assert.Equal(text, content);
    }

    [Fact]
    public void Hermes_reads_an_unterminated_call_that_is_complete_json()
    {
        var (_, calls) = Whole(Hermes, "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": \"</tool\"}}\n");
        Assert.Equal([("a", "{\"x\": \"</tool\"}")], calls);
    }

    [Fact]
    public void Text_without_calls_is_unchanged_whitespace_included()
    {
        foreach (var parser in ToolCallParsers.All)
            Assert.Equal("  Hello, world!\n\n", Whole(parser, "  Hello, world!\n\n").Content);
    }

    [Fact]
    public void Llama3_reads_one_call_with_parameters()
    {
        var (content, calls) = Whole(Llama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}");
        Assert.Null(content);
        Assert.Equal([("get_weather", "{\"city\": \"Paris\"}")], calls);
    }

    [Fact]
    public void Llama3_reads_calls_separated_by_semicolons_and_after_the_python_tag()
    {
        var text = "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"arguments\": {\"y\": [2]}}";
        Assert.Equal([("a", "{\"x\": 1}"), ("b", "{\"y\": [2]}")], Whole(Llama3, text).Calls);
    }

    [Fact]
    public void Llama3_keeps_text_before_a_python_tag_call()
    {
        var (content, calls) = Whole(Llama3, "Checking.<|python_tag|>{\"name\": \"a\", \"parameters\": {}}");
        Assert.Equal("Checking.", content);
        Assert.Equal([("a", "{}")], calls);
    }

    [Theory]
    [InlineData("{\"answer\": 42}")]                                         // JSON that is not a call
    [InlineData("{\"name\": \"a\", \"parameters\": {\"x\": 1}")]             // cut off
    [InlineData("{\"name\": \"a\", \"parameters\": {}} and then some prose")]
    [InlineData("The JSON {\"name\": \"a\", \"parameters\": {}} is only quoted here")]
    public void Llama3_leaves_what_is_not_a_call_as_text(string text)
    {
        var (content, calls) = Whole(Llama3, text);
        Assert.Empty(calls);
        Assert.Equal(text, content);
    }

    [Fact]
    public void Mistral_reads_a_list_of_calls_and_text_before_it()
    {
        var text = "Sure. [TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}]";
        var (content, calls) = Whole(Mistral, text);
        Assert.Equal("Sure.", content);
        Assert.Equal([("a", "{\"x\": 1}"), ("b", "{}")], calls);
        Assert.True(Mistral.NeedsSpecialTokens);
    }

    [Theory]
    [InlineData("[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {\"x\": 1}")]
    [InlineData("[TOOL_CALLS] nothing here")]
    [InlineData("[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": 3}]")]
    [InlineData("[TOOL_CALLS] []")]
    public void Mistral_leaves_malformed_calls_as_text(string text)
    {
        var (content, calls) = Whole(Mistral, text);
        Assert.Empty(calls);
        Assert.Equal(text, content);
    }

    public static TheoryData<string, string> Outputs() => new()
    {
        { "hermes", "Let me look both up.\n\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": \"<tool_call>\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>\nDone." },
        { "hermes", "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": }\n</tool_call> and <tool_call>{\"name\": \"c\"}</tool_call>  " },
        { "hermes", "No tools today.  \n" },
        { "llama3_json", "  {\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"parameters\": {\"s\": \"};{\"}}" },
        { "llama3_json", "{\"answer\": 42}" },
        { "llama3_json", "Checking.<|python_tag|>{\"name\": \"a\", \"parameters\": {}}" },
        { "mistral", "Sure. [TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {\"x\": \"]\"}}] after" },
        { "mistral", "[TOOL_CALLS] broken [TOOL_CALLS][{\"name\": \"b\", \"arguments\": {}}]" },
    };

    [Theory]
    [MemberData(nameof(Outputs))]
    public void Streaming_char_by_char_equals_whole(string parser, string text)
    {
        var family = ToolCallParsers.ByName(parser);
        Assert.Equal(Describe(Whole(family, text)), Describe(Streamed(family, text.Select(c => c.ToString()))));
    }

    [Theory]
    [MemberData(nameof(Outputs))]
    public void Streaming_in_any_chunks_equals_whole(string parser, string text)
    {
        var family = ToolCallParsers.ByName(parser);
        var whole = Describe(Whole(family, text));
        Gen.Int[1, 7].Array[1, 40].Sample(sizes =>
        {
            var pieces = new List<string>();
            int at = 0;
            for (int i = 0; at < text.Length; i++)
            {
                int n = Math.Min(sizes[i % sizes.Length], text.Length - at);
                pieces.Add(text.Substring(at, n));
                at += n;
            }
            Assert.Equal(whole, Describe(Streamed(family, pieces)));
        }, iter: 200);
    }

    private static (string? Content, (string Name, string Arguments)[] Calls) Streamed(ToolCallParser parser, IEnumerable<string> pieces)
    {
        var stream = parser.CreateStream();
        var content = new System.Text.StringBuilder();
        var calls = new List<(string, string)>();
        foreach (var piece in pieces.Append(null))
        {
            var update = piece is null ? stream.Finish() : stream.Feed(piece);
            content.Append(update.Content);
            calls.AddRange(update.Calls.Select(c => (c.Name, c.Arguments)));
        }
        return (content.Length == 0 ? null : content.ToString(), calls.ToArray());
    }

    private static string Describe((string? Content, (string Name, string Arguments)[] Calls) result) =>
        $"content={result.Content ?? "<null>"}|" + string.Join("|", result.Calls.Select(c => c.Name + c.Arguments));

    public static TheoryData<string, string> WellFormedOutputs() => new()
    {
        { "hermes", "Let me look.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": \"<tool_call>\", \"y\": [1, 2]}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>" },
        { "llama3_json", "{\"name\": \"a\", \"parameters\": {\"x\": 1, \"s\": \"};{\"}}; {\"name\": \"b\", \"parameters\": {\"k\": true}}" },
        { "mistral", "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {\"x\": \"]\"}}, {\"name\": \"b\", \"arguments\": {\"q\": null}}]" },
    };

    /// <summary>Fed a character at a time: per call index, its deltas (start first, then argument pieces).</summary>
    private static (List<ToolCall> Calls, Dictionary<int, List<ToolCallDelta>> Deltas) StreamDeltas(ToolCallParser parser, string text, bool streamArguments)
    {
        var stream = parser.CreateStream(streamArguments: streamArguments);
        var calls = new List<ToolCall>();
        var deltas = new Dictionary<int, List<ToolCallDelta>>();
        foreach (var piece in text.Select(c => c.ToString()).Append(null))
        {
            var update = piece is null ? stream.Finish() : stream.Feed(piece);
            calls.AddRange(update.Calls);
            foreach (var d in update.Deltas)
            {
                if (!deltas.TryGetValue(d.Index, out var list)) deltas[d.Index] = list = [];
                list.Add(d);
            }
        }
        return (calls, deltas);
    }

    [Theory]
    [MemberData(nameof(WellFormedOutputs))]
    public void Streamed_arguments_arrive_in_pieces_that_add_up_to_the_call(string parser, string text)
    {
        var (calls, deltas) = StreamDeltas(ToolCallParsers.ByName(parser), text, streamArguments: true);
        Assert.Equal(2, calls.Count);
        Assert.Equal([0, 1], deltas.Keys.Order());
        for (int i = 0; i < calls.Count; i++)
        {
            var pieces = deltas[i];
            Assert.True(pieces[0].IsStart);
            Assert.Equal((calls[i].Id, calls[i].Name), (pieces[0].Id!, pieces[0].Name!));
            Assert.All(pieces.Skip(1), p => Assert.False(p.IsStart));
            Assert.Equal(calls[i].Arguments, string.Concat(pieces.Skip(1).Select(p => p.Arguments)));
            if (calls[i].Arguments.Length > 2) Assert.True(pieces.Count > 3, $"call {i} arrived in {pieces.Count - 1} pieces");
        }
        Assert.Equal(Whole(ToolCallParsers.ByName(parser), text).Calls, calls.Select(c => (c.Name, c.Arguments)).ToArray());
    }

    [Theory]
    [MemberData(nameof(WellFormedOutputs))]
    public void Held_back_calls_go_out_as_a_start_and_one_arguments_piece(string parser, string text)
    {
        var (calls, deltas) = StreamDeltas(ToolCallParsers.ByName(parser), text, streamArguments: false);
        for (int i = 0; i < calls.Count; i++)
        {
            Assert.Equal(2, deltas[i].Count);
            Assert.Equal(calls[i].Name, deltas[i][0].Name);
            Assert.Equal(calls[i].Arguments, deltas[i][1].Arguments);
        }
    }

    [Fact]
    public void Without_parallel_calls_only_the_first_call_streams()
    {
        const string text = "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>";
        var stream = ToolCallParsers.ByName("hermes").CreateStream(allowParallel: false, streamArguments: true);
        var deltas = text.Select(c => stream.Feed(c.ToString())).Append(stream.Finish()).SelectMany(u => u.Deltas).ToList();
        Assert.All(deltas, d => Assert.Equal(0, d.Index));
        Assert.Equal("a", Assert.Single(deltas, d => d.IsStart).Name);
    }

    [Fact]
    public void The_parser_is_picked_from_the_template_or_named()
    {
        Assert.Equal("hermes", ToolCallParsers.FromTemplate("{{- '<tool_call>\\n' }}")?.Name);
        Assert.Equal("mistral", ToolCallParsers.FromTemplate("{{ '[TOOL_CALLS]' }}")?.Name);
        Assert.Equal("llama3_json", ToolCallParsers.FromTemplate("<|start_header_id|> {\"name\": function name, \"parameters\": ...}")?.Name);
        Assert.Null(ToolCallParsers.FromTemplate("{% for m in messages %}{{ m.content }}{% endfor %}"));
        var error = Assert.Throws<ArgumentException>(() => ToolCallParsers.ByName("pythonic"));
        Assert.Contains("hermes, llama3_json, mistral", error.Message);
    }
}
