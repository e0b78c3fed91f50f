using System.Numerics.Tensors;

namespace Loom.Engine.Sampling;

internal enum RowState { Finite, NoFiniteLogit, HasNaN }

/// <summary>
/// The one check every row passes before a token is picked: the common row (finite maximum) costs one vectorised max;
/// otherwise +inf is clamped to <see cref="float.MaxValue"/> (so exp(x - max) stays defined) and the row is classified.
/// </summary>
internal static class RowCheck
{
    public static RowState Inspect(Span<float> logits)
    {
        float max = TensorPrimitives.Max(logits); // NaN if any entry is NaN
        if (float.IsFinite(max)) return RowState.Finite;
        if (HasNaN(logits)) return RowState.HasNaN;
        bool anyFinite = false;
        for (int i = 0; i < logits.Length; i++)
        {
            if (float.IsPositiveInfinity(logits[i])) logits[i] = float.MaxValue;
            anyFinite |= logits[i] > float.NegativeInfinity;
        }
        return anyFinite ? RowState.Finite : RowState.NoFiniteLogit;
    }

    private static bool HasNaN(ReadOnlySpan<float> logits)
    {
        foreach (float x in logits)
            if (float.IsNaN(x)) return true;
        return false;
    }
}
