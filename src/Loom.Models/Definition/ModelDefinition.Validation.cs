using Loom.Models.Weights;

namespace Loom.Models.Definition;

/// <summary>Whether a weight source holds exactly the definition's tensors (ignoring rotary inv_freq buffers) in the right shapes.</summary>
public sealed partial class ModelDefinition
{
    /// <summary>Missing, unexpected, mis-shaped and non-float tensors, one line each (empty when the checkpoint fits).</summary>
    public IReadOnlyList<string> FindProblems(IWeightSource weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var problems = new List<string>();
        var expectedNames = new HashSet<string>(Tensors.Select(e => e.Name), StringComparer.Ordinal);
        foreach (var e in Tensors)
        {
            if (!weights.Tensors.TryGetValue(e.Name, out var t)) { problems.Add($"missing tensor '{e.Name}' [{Dims(e.Shape)}]"); continue; }
            if (!t.Shape.AsSpan().SequenceEqual(e.Shape))
                problems.Add($"tensor '{e.Name}' has shape [{Dims(t.Shape)}], expected [{Dims(e.Shape)}] ({t.File})");
            if (!DTypes.IsFloatingPoint(t.DType) && !DTypes.IsQuantized(t.DType) || t.DType == DType.F64)
                problems.Add($"tensor '{e.Name}' has dtype {t.DType}; weights must be F32, F16, BF16 or a quantized type ({t.File})");
        }
        foreach (var name in weights.Tensors.Keys.Order(StringComparer.Ordinal))
            if (!expectedNames.Contains(name) && !HfTensorNames.IsIgnored(name))
                problems.Add($"unexpected tensor '{name}' ({weights.Tensors[name].File})");
        return problems;
    }

    /// <summary>Throws a <see cref="ModelLoadException"/> listing every problem <see cref="FindProblems"/> finds.</summary>
    public void Validate(IWeightSource weights)
    {
        var problems = FindProblems(weights);
        if (problems.Count == 0) return;
        const int Shown = 12;
        string list = string.Join(Environment.NewLine, problems.Take(Shown).Select(p => "  " + p));
        if (problems.Count > Shown) list += $"{Environment.NewLine}  ... and {problems.Count - Shown} more";
        throw new ModelLoadException(
            $"The weights do not match the {Config.Architecture} config ({problems.Count} problem(s)):{Environment.NewLine}{list}");
    }

    private static string Dims(long[] shape) => string.Join(",", shape);
}
