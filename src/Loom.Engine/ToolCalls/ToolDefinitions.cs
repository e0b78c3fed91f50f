using System.Text.Json;

namespace Loom.Engine.ToolCalls;

/// <summary>
/// A function the model may call (OpenAI's tools[i].function): its name, what it does, and the JSON schema of its
/// arguments (an object schema; null = takes no arguments).
/// </summary>
public sealed record ToolFunction(string Name, string? Description, JsonElement? Parameters, bool Strict = false)
{
    /// <summary>The tool as transformers passes it to chat templates: {"type": "function", "function": {...}}.</summary>
    public IReadOnlyDictionary<string, object?> ToTemplateValue()
    {
        var function = new Dictionary<string, object?> { ["name"] = Name };
        if (Description is not null) function["description"] = Description;
        if (Parameters is { } parameters) function["parameters"] = parameters;
        return new Dictionary<string, object?> { ["type"] = "function", ["function"] = function };
    }
}

/// <summary>OpenAI's tool_choice.</summary>
public enum ToolChoiceMode
{
    /// <summary>The model decides; a per-family parser extracts the calls it writes.</summary>
    Auto,
    /// <summary>No calls: the output is text (the template may still list the tools, as vLLM's does).</summary>
    None,
    /// <summary>At least one call of one of the tools (needs constrained decoding).</summary>
    Required,
    /// <summary>A call of the one function <see cref="ToolChoice.FunctionName"/> names (needs constrained decoding).</summary>
    Function,
}

/// <param name="FunctionName">Set exactly when Mode is <see cref="ToolChoiceMode.Function"/>.</param>
public sealed record ToolChoice(ToolChoiceMode Mode, string? FunctionName = null)
{
    public static ToolChoice Auto { get; } = new(ToolChoiceMode.Auto);
    public static ToolChoice None { get; } = new(ToolChoiceMode.None);
    public static ToolChoice Required { get; } = new(ToolChoiceMode.Required);
    public static ToolChoice Named(string name) => new(ToolChoiceMode.Function, name);
}

/// <summary>One call the model made: OpenAI's tool_calls[i] ({id, type: "function", function: {name, arguments}}).</summary>
/// <param name="Arguments">The arguments object as JSON text, as the model wrote it.</param>
public sealed record ToolCall(string Id, string Name, string Arguments)
{
    /// <summary>A fresh id in OpenAI's spelling ("call_" + 24 characters).</summary>
    public static string NewId() => "call_" + Guid.NewGuid().ToString("N")[..24];
}

/// <summary>
/// How a model family writes calls as text, so a grammar can generate exactly what the family's parser reads back:
/// <c>ListPrefix (CallPrefix {"name": N, ArgumentsKey: ARGS} CallSuffix) (Separator ...)* ListSuffix</c>.
/// </summary>
public sealed record ToolCallFormat(string CallPrefix, string CallSuffix, string Separator, string ArgumentsKey = "arguments")
{
    public string ListPrefix { get; init; } = "";
    public string ListSuffix { get; init; } = "";

    /// <summary>
    /// The text that begins a call inside free text (Hermes' &lt;tool_call&gt;), which <see cref="CallPrefix"/> starts
    /// with; null when calls have no such marker a grammar can write, so "text, then a constrained call" cannot be
    /// enforced (Llama 3's bare JSON, Mistral's special token).
    /// </summary>
    public string? Marker { get; init; }
}

/// <summary>
/// The seam to constrained decoding: "the output must be one call (several when <paramref name="AllowParallel"/>) of
/// one of <paramref name="Functions"/>, written in <paramref name="Format"/>, with arguments valid against the
/// function's parameters schema". tool_choice "required" lists every tool, a named function lists only it.
/// </summary>
/// <param name="AfterText">tool_choice "auto" with strict functions: the output is free text in which any call begun
/// with <see cref="ToolCallFormat.Marker"/> is constrained, the arguments of strict functions to their schema and of
/// the others to any JSON object.</param>
public sealed record ToolCallConstraint(IReadOnlyList<ToolFunction> Functions, bool AllowParallel, ToolCallFormat Format,
    bool AfterText = false);

/// <summary>
/// The grammar engine's side of the seam: attaches to a request whatever makes sampling obey a
/// <see cref="ToolCallConstraint"/>. Until one is supplied, requests that need it are refused
/// (<see cref="ToolCallPlan"/>), never answered unconstrained.
/// </summary>
public interface IToolCallConstrainer
{
    EngineRequest Constrain(EngineRequest request, ToolCallConstraint constraint);
}
