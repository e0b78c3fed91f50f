using Loom.Models;

namespace Loom.IO;

internal static partial class RegularFile
{
    /// <summary>Throws <see cref="ModelLoadException"/> unless <paramref name="path"/> is a regular file.</summary>
    public static void Require(string path)
    {
        if (Problem(path) is { } problem) throw new ModelLoadException(problem);
    }
}
