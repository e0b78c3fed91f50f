using System.Text.Json;
using System.Text.RegularExpressions;

namespace Loom.Engine.ToolCalls;

/// <summary>
/// What a chat request's tools mean for its prompt and its output, decided once from tools, tool_choice and
/// parallel_tool_calls as vLLM decides it: the template lists the tools unless there are none; "auto" reads calls out
/// with the family's parser; "none" reads none; "required" and a named function need the output constrained to calls
/// (<see cref="Constraint"/>), as do strict functions under "auto"; each is refused where no grammar engine can do it.
/// Refusals are ArgumentExceptions naming the field ("tools[i]...", "tool_choice"), as everywhere in intake.
/// </summary>
public sealed partial record ToolCallPlan
{
    public static ToolCallPlan NoTools { get; } = new() { Choice = ToolChoice.None };

    public IReadOnlyList<ToolFunction> Tools { get; private init; } = [];
    public ToolChoice Choice { get; private init; } = ToolChoice.None;
    public bool AllowParallel { get; private init; } = true;
    /// <summary>Reads calls out of the output; null = the output is all content.</summary>
    public ToolCallParser? Parser { get; private init; }
    /// <summary>Set for "required" and a named function: what the grammar must enforce.</summary>
    public ToolCallConstraint? Constraint { get; private init; }

    /// <summary>The tools as the chat template receives them (null = none, as transformers passes tools=None).</summary>
    public IReadOnlyList<object?>? TemplateTools => Tools.Count == 0 ? null : Tools.Select(t => (object?)t.ToTemplateValue()).ToList();

    /// <param name="parser">The served model's family parser (from --tool-call-parser or its chat template), if any.</param>
    /// <param name="canConstrain">Whether a grammar engine is there to enforce "required" and named functions.</param>
    public static ToolCallPlan Create(IReadOnlyList<ToolFunction>? tools, ToolChoice? choice, bool? parallelToolCalls,
        ToolCallParser? parser, bool canConstrain)
    {
        tools ??= [];
        Validate(tools);
        choice ??= tools.Count > 0 ? ToolChoice.Auto : ToolChoice.None;
        if (tools.Count == 0 && choice.Mode is ToolChoiceMode.Required or ToolChoiceMode.Function)
            throw new ArgumentException("tool_choice requires tools: none were given.", "tool_choice");
        if (tools.Count == 0) return NoTools;
        var plan = new ToolCallPlan { Tools = tools, Choice = choice, AllowParallel = parallelToolCalls ?? true };
        if (choice.Mode == ToolChoiceMode.None) return plan;
        if (parser is null)
            throw new ArgumentException(
                $"tool_choice '{Describe(choice)}' needs a tool-call parser, and the model's chat template matches none; "
                + $"start the server with --tool-call-parser ({string.Join(", ", ToolCallParsers.Names)}).", "tool_choice");
        plan = plan with { Parser = parser };
        if (choice.Mode == ToolChoiceMode.Auto) return plan with { Constraint = StrictUnderAuto(plan, parser, canConstrain) };
        var functions = choice.Mode == ToolChoiceMode.Required ? tools : [Named(tools, choice.FunctionName!)];
        RequireGrammar(parser, canConstrain, $"tool_choice '{Describe(choice)}'", "tool_choice");
        return plan with { Constraint = new ToolCallConstraint(functions, plan.AllowParallel, parser.Format) };
    }

    /// <summary>Strict functions under "auto": their arguments are constrained once a call has begun (null: none is strict).</summary>
    private static ToolCallConstraint? StrictUnderAuto(ToolCallPlan plan, ToolCallParser parser, bool canConstrain)
    {
        int strict = plan.Tools.ToList().FindIndex(t => t.Strict);
        if (strict < 0) return null;
        string param = $"tools[{strict}].function.strict";
        RequireGrammar(parser, canConstrain, $"{param} under tool_choice 'auto'", param);
        if (parser.Format.Marker is null)
            throw new ArgumentException(
                $"{param} under tool_choice 'auto' cannot be enforced for the {parser.Name} format, whose calls have no marker "
                + "a grammar can wait for; use tool_choice 'required' or a named function, or strict: false.", param);
        return new ToolCallConstraint(plan.Tools, plan.AllowParallel, parser.Format, AfterText: true);
    }

    private static void RequireGrammar(ToolCallParser parser, bool canConstrain, string what, string param)
    {
        if (!canConstrain)
            throw new ArgumentException(
                $"{what} requires the output to be constrained by a grammar, which this client or server does not have.", param);
        if (parser.NeedsSpecialTokens)
            throw new ArgumentException(
                $"{what} cannot be enforced for the {parser.Name} format: its call marker is a special token, which a grammar "
                + "cannot write; use tool_choice 'auto'.", param);
    }

    private static ToolFunction Named(IReadOnlyList<ToolFunction> tools, string name) =>
        tools.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"tool_choice names the function '{name}', which is not one of the tools.", "tool_choice");

    private static string Describe(ToolChoice choice) => choice.Mode switch
    {
        ToolChoiceMode.Function => $"{{\"type\": \"function\", \"function\": {{\"name\": \"{choice.FunctionName}\"}}}}",
        _ => choice.Mode.ToString().ToLowerInvariant(),
    };

    /// <summary>OpenAI's rules: names of a-z, A-Z, 0-9, '_' and '-' (at most 64), unique; parameters an object schema.</summary>
    private static void Validate(IReadOnlyList<ToolFunction> tools)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < tools.Count; i++)
        {
            var tool = tools[i];
            string param = $"tools[{i}].function";
            if (string.IsNullOrEmpty(tool.Name))
                throw new ArgumentException($"{param}.name is required.", param + ".name");
            if (!FunctionName().IsMatch(tool.Name))
                throw new ArgumentException(
                    $"{param}.name '{tool.Name}' must be 1 to 64 letters, digits, underscores or dashes.", param + ".name");
            if (!names.Add(tool.Name))
                throw new ArgumentException($"{param}.name '{tool.Name}' is given twice.", param + ".name");
            if (tool.Parameters is { } schema) ValidateSchema(schema, param + ".parameters");
        }
    }

    private static void ValidateSchema(JsonElement schema, string param)
    {
        if (schema.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"{param} must be a JSON Schema object, got {schema.ValueKind.ToString().ToLowerInvariant()}.", param);
        if (schema.TryGetProperty("type", out var type) && !(type.ValueKind == JsonValueKind.String && type.ValueEquals("object")))
            throw new ArgumentException($"{param} must describe an object (\"type\": \"object\"), got \"type\": {type.GetRawText()}.", param);
        if (schema.TryGetProperty("properties", out var properties) && properties.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"{param}.properties must be an object.", param + ".properties");
    }

    [GeneratedRegex("^[a-zA-Z0-9_-]{1,64}$")]
    private static partial Regex FunctionName();
}
