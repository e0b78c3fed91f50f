using Loom.Engine.ToolCalls;
using Loom.Grammar;

namespace Loom.Engine.StructuredOutput;

/// <summary>
/// The grammar engine behind <see cref="IToolCallConstrainer"/>: a request whose tool plan needs its calls enforced
/// gets the <see cref="ToolCallGrammar"/> of its constraint, compiled once per distinct set of tools and cached.
/// </summary>
/// <param name="grammars">The served vocabulary's cache; a function so it is built (it reads the vocabulary) on first use.</param>
public sealed class GrammarToolCallConstrainer(Func<GrammarCompilationCache> grammars) : IToolCallConstrainer
{
    /// <exception cref="ArgumentException">The request has another output constraint, or a schema cannot be enforced.</exception>
    public EngineRequest Constrain(EngineRequest request, ToolCallConstraint constraint)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(constraint);
        string param = constraint.AfterText ? "tools" : "tool_choice";
        if (request.Grammar is not null)
            throw new ArgumentException(
                $"{param}: calls that must follow their schemas cannot be combined with response_format or another output constraint.", param);
        try
        {
            return request with { Grammar = grammars().GetOrCompile(ToolCallGrammar.Key(constraint), () => ToolCallGrammar.Build(constraint)) };
        }
        catch (GrammarException e)
        {
            throw new ArgumentException($"{param}: the tool-call grammar cannot be compiled: {e.Message}", param, e);
        }
    }
}
