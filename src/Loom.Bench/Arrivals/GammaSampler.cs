namespace Loom.Bench.Arrivals;

/// <summary>Seeded draws from the gamma and normal distributions (Marsaglia and Tsang's method for gamma).</summary>
public sealed class GammaSampler(Random rng)
{
    /// <summary>One draw from Gamma(shape, scale): mean shape * scale, variance shape * scale^2.</summary>
    public double Next(double shape, double scale)
    {
        if (!(shape > 0) || double.IsInfinity(shape)) throw new ArgumentOutOfRangeException(nameof(shape), shape, "shape must be positive and finite.");
        if (!(scale > 0) || double.IsInfinity(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be positive and finite.");
        if (shape < 1)
        {
            // Gamma(a) = Gamma(a + 1) * U^(1/a) keeps the squeeze method valid for a < 1.
            double u = 1.0 - rng.NextDouble();
            return Next(shape + 1, scale) * Math.Pow(u, 1.0 / shape);
        }
        double d = shape - 1.0 / 3.0, c = 1.0 / Math.Sqrt(9.0 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = NextStandardNormal();
                v = 1.0 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double uniform = 1.0 - rng.NextDouble();
            if (uniform < 1.0 - 0.0331 * x * x * x * x) return d * v * scale;
            if (Math.Log(uniform) < 0.5 * x * x + d * (1.0 - v + Math.Log(v))) return d * v * scale;
        }
    }

    /// <summary>Box-Muller; one of the pair is discarded, which is simpler and costs nothing that matters here.</summary>
    public double NextStandardNormal()
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
