namespace Loom.Engine.ToolCalls;

/// <summary>The families Loom reads calls of, by vLLM's --tool-call-parser names, and the pick from a chat template.</summary>
public static class ToolCallParsers
{
    public static IReadOnlyList<ToolCallParser> All { get; } =
        [new HermesToolCallParser(), new Llama3JsonToolCallParser(), new MistralToolCallParser()];

    public static IEnumerable<string> Names => All.Select(p => p.Name);

    /// <summary>The parser of a --tool-call-parser name; throws naming the known ones.</summary>
    public static ToolCallParser ByName(string name) =>
        All.FirstOrDefault(p => p.Name == name)
        ?? throw new ArgumentException($"Unknown tool-call parser '{name}'; known: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>
    /// The family a chat template's source writes calls for (what it tells the model, or how it renders past calls):
    /// Hermes/Qwen's &lt;tool_call&gt;, Mistral's [TOOL_CALLS], Llama 3.1's JSON with "parameters"; null when none.
    /// </summary>
    public static ToolCallParser? FromTemplate(string? templateSource)
    {
        if (string.IsNullOrEmpty(templateSource)) return null;
        if (templateSource.Contains("<tool_call>", StringComparison.Ordinal)) return ByName("hermes");
        if (templateSource.Contains("[TOOL_CALLS]", StringComparison.Ordinal)) return ByName("mistral");
        if (templateSource.Contains("<|python_tag|>", StringComparison.Ordinal)
            || (templateSource.Contains("<|start_header_id|>", StringComparison.Ordinal)
                && templateSource.Contains("\"parameters\"", StringComparison.Ordinal)))
            return ByName("llama3_json");
        return null;
    }
}
