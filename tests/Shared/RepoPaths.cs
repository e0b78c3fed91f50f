namespace Loom.Tests;

/// <summary>Locates the repository root (the folder holding Loom.slnx) so tests find tests/fixtures and models/demo.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();
    public static string Fixtures => Path.Combine(Root, "tests", "fixtures");
    public static string FixtureModel(string name) => Path.Combine(Fixtures, "models", name);
    public static string FixtureTokenizer(string name) => Path.Combine(Fixtures, "tokenizers", name);
    public static string DemoModel => Path.Combine(Root, "models", "demo");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Loom.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Loom.slnx not found above " + AppContext.BaseDirectory);
    }
}
