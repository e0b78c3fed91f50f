using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Loom.Tokenizers;

namespace Loom.Benchmarks;

/// <summary>
/// Tokenizer throughput on ~400 KB of English text (the fixture abstracts repeated), one thread, warm word cache.
/// MB/s = TextBytes / time (report Min as well as Mean on a shared machine). Run: dotnet run -c Release --project tests/Loom.Benchmarks -- --filter *TokenizerBenchmarks* -i --job short
/// </summary>
[MemoryDiagnoser, MinColumn, MaxColumn]
public class TokenizerBenchmarks
{
    private const int TargetBytes = 400_000;

    private HfTokenizer _llama3 = null!, _qwen = null!, _spm = null!;
    private string _text = "";
    private int[] _llama3Ids = [];

    [GlobalSetup]
    public void Setup()
    {
        string tokenizers = Path.Combine(FindRoot(), "tests", "fixtures", "tokenizers");
        _llama3 = HfTokenizer.FromDirectory(Path.Combine(tokenizers, "bytebpe-llama3"));
        _qwen = HfTokenizer.FromDirectory(Path.Combine(tokenizers, "bytebpe-qwen"));
        _spm = HfTokenizer.FromDirectory(Path.Combine(tokenizers, "spm-legacy"));
        _text = EnglishText(Path.Combine(tokenizers, "bytebpe-qwen", "cases.json"));
        _llama3Ids = _llama3.Encode(_text);
        Console.WriteLine($"// text: {TextBytes} UTF-8 bytes, {_llama3Ids.Length} Llama-3-style tokens");
    }

    public int TextBytes => Encoding.UTF8.GetByteCount(_text);

    [Benchmark(Baseline = true, Description = "encode byte-level BPE (Llama-3 regex)")]
    public int EncodeLlama3() => _llama3.Encode(_text).Length;

    [Benchmark(Description = "encode byte-level BPE (Qwen2 regex + NFC)")]
    public int EncodeQwen() => _qwen.Encode(_text).Length;

    [Benchmark(Description = "encode SentencePiece-style BPE (byte fallback)")]
    public int EncodeSpm() => _spm.Encode(_text).Length;

    [Benchmark(Description = "decode byte-level BPE")]
    public int DecodeLlama3() => _llama3.Decode(_llama3Ids).Length;

    /// <summary>The long English cases of the fixture, joined and repeated up to ~400 KB.</summary>
    private static string EnglishText(string casesJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(casesJson));
        var paragraphs = doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => c.GetProperty("text").GetString()!).Where(t => t.Length > 200 && t.All(char.IsAscii)).ToList();
        var sb = new StringBuilder(TargetBytes + 4096);
        while (sb.Length < TargetBytes) foreach (var p in paragraphs) sb.Append(p).Append("\n\n");
        return sb.ToString();
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Loom.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Loom.slnx not found above " + AppContext.BaseDirectory);
    }
}
