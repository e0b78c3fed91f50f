using System.Diagnostics;
using Loom.Grammar.Ast;
using Loom.Grammar.Compile;
using Loom.Grammar.Frontends;
using Loom.Grammar.Matching;
using Loom.Grammar.Vocab;
using Loom.Tokenizers;

namespace Loom.Benchmarks;

/// <summary>
/// Structured outputs (issue 13): compile time per grammar (automaton + per-state token masks) and the time of one
/// allowed-token mask per decode step, replaying a realistic output (a sample document encoded with the model's
/// tokenizer) token by token, many times. One thread.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- grammar [tokenizer-directory] [--passes N]
/// (default: the 3k-token fixture tokenizer; pass a Qwen3 tokenizer directory for the 151k vocabulary).
/// </summary>
internal static class GrammarBenchmark
{
    private sealed record Scenario(string Name, Func<GrammarDefinition> Grammar, string Sample);

    private const string NestedSchema = """
            {"type":"object","properties":{
              "title":{"type":"string","maxLength":80},
              "status":{"enum":["draft","review","published"]},
              "score":{"type":"number","minimum":0,"maximum":100},
              "authors":{"type":"array","minItems":1,"maxItems":5,"items":{"type":"object","properties":{
                  "name":{"type":"string"},"id":{"type":"string","format":"uuid"},"year":{"type":"integer","minimum":1900,"maximum":2100}},
                  "required":["name","year"],"additionalProperties":false}},
              "summary":{"type":["string","null"]}},
             "required":["title","status","authors"],"additionalProperties":false}
            """;

    private const string NestedSample = """
            {
              "title": "Structured decoding with pushdown automata",
              "status": "review",
              "score": 87.5,
              "authors": [
                {"name": "Grace Hopper", "id": "8c1f6a2e-4b7d-4e2a-9f3c-1d2e3f4a5b6c", "year": 1952},
                {"name": "Alan Turing", "year": 1936}
              ],
              "summary": "A grammar is compiled once per schema; every step masks the vocabulary in microseconds, so sampling stays exact for the allowed set."
            }
            """;

    private static readonly Scenario[] Scenarios =
    [
        new("json_schema: flat object (OpenAI strict)", () => JsonSchemaGrammar.FromSchema("""
            {"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"email":{"type":"string","format":"email"},
             "active":{"type":"boolean"}},"required":["name","age","email","active"],"additionalProperties":false}
            """), """{"name": "Ada Lovelace, Countess of Lovelace", "age": 36, "email": "ada@analytical.org", "active": true}"""),
        new("json_schema: nested arrays, enums, optional, bounds", () => JsonSchemaGrammar.FromSchema(NestedSchema), NestedSample),
        new("  same, title without maxLength", () => JsonSchemaGrammar.FromSchema(NestedSchema.Replace("\"maxLength\":80", "\"minLength\":0")), NestedSample),
        new("json_object", () => JsonSchemaGrammar.AnyObject(),
            """{"query": "weather in Paris", "units": "metric", "days": [1, 2, 3], "detail": {"hourly": false, "note": null}}"""),
        new("regex: phone / date list", () => GrammarDefinition.FromExpr(RegexParser.ParseAnchored(@"(\+\d{1,3} )?\d{3}-\d{3}-\d{4}(, \d{4}-\d{2}-\d{2})*")),
            "+1 555-867-5309, 2024-01-15, 2025-12-31"),
        new("choice", () => ChoiceGrammar.FromChoices(["positive", "negative", "neutral", "mixed feelings"]), "mixed feelings"),
    ];

    public static int Run(string[] args)
    {
        string root = FindRoot();
        string dir = args.FirstOrDefault(a => !a.StartsWith("--")) ?? Path.Combine(root, "tests", "fixtures", "tokenizers", "bytebpe-qwen");
        int passesAt = Array.IndexOf(args, "--passes");
        int passes = passesAt >= 0 ? int.Parse(args[passesAt + 1]) : 30;
        var tokenizer = HfTokenizer.FromDirectory(dir);
        var vocab = TokenizerJsonVocabulary.Load(Path.Combine(dir, "tokenizer.json"), ["<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>"]);
        Console.WriteLine($"Grammar benchmark: {dir}, vocabulary {vocab.Size} tokens ({vocab.Trie.NodeCount} trie nodes), {passes} passes, one thread");
        Console.WriteLine($"{"grammar",-52} {"states",7} {"compile ms",11} {"uncertain",10} {"steps",6} {"mean µs",8} {"p50 µs",7} {"p99 µs",7} {"max µs",8}");
        foreach (var s in Scenarios) RunScenario(s, tokenizer, vocab, passes);
        return 0;
    }

    private static void RunScenario(Scenario s, HfTokenizer tokenizer, TokenVocabulary vocab, int passes)
    {
        long t0 = Stopwatch.GetTimestamp();
        var compiled = GrammarCompiler.Compile(s.Grammar());
        double automatonMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        var grammar = new TokenGrammar(compiled, vocab);
        if (Environment.GetEnvironmentVariable("LOOM_GRAMMAR_BENCH_DETAIL") == "1")
        {
            var costs = new List<(int State, long Nodes, long Ticks)>();
            _ = new TokenMaskTable(compiled, vocab, (st, n, t) => costs.Add((st, n, t)));
            foreach (var c in costs.OrderByDescending(c => c.Ticks).Take(5))
                Console.WriteLine($"  state {c.State} (rule {compiled.RuleNames[compiled.RuleOf[c.State]]}): {c.Nodes} nodes, {c.Ticks * 1e3 / Stopwatch.Frequency:F2} ms, {grammar.Masks.For(c.State).Uncertain.Length} uncertain");
            Console.WriteLine($"  states over 100k nodes: {costs.Count(c => c.Nodes > 100_000)}, their time {costs.Where(c => c.Nodes > 100_000).Sum(c => c.Ticks) * 1e3 / Stopwatch.Frequency:F0} ms of {costs.Sum(c => c.Ticks) * 1e3 / Stopwatch.Frequency:F0} ms");
        }
        if (Environment.GetEnvironmentVariable("LOOM_GRAMMAR_BENCH_DETAIL") == "1")
            Console.WriteLine($"  automaton {automatonMs:F1} ms, {compiled.HasBytes.Count(b => b)} byte-reading states, {grammar.Masks.NodesVisited} trie nodes visited");
        double compileMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        int[] tokens = tokenizer.Encode(s.Sample.Trim());
        var mask = new ulong[vocab.MaskWords];
        var micros = new List<double>(passes * (tokens.Length + 1));
        for (int pass = 0; pass < passes; pass++)
        {
            var m = grammar.CreateMatcher();
            foreach (int token in tokens.Append(vocab.EosTokenIds[0]))
            {
                long start = Stopwatch.GetTimestamp();
                m.ComputeMask(mask);
                if (pass > 0) micros.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                if (!TokenMask.IsSet(mask, token) || !m.TryAdvance(token))
                    throw new InvalidOperationException($"{s.Name}: the sample's token {token} ('{tokenizer.Decode([token])}') is not allowed");
            }
        }
        micros.Sort();
        Console.WriteLine($"{s.Name,-52} {compiled.StateCount,7} {compileMs,11:F1} {grammar.UncertainTokenCount,10} {tokens.Length + 1,6} " +
            $"{micros.Average(),8:F1} {Pct(micros, 0.50),7:F1} {Pct(micros, 0.99),7:F1} {micros[^1],8:F1}");
    }

    private static double Pct(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Loom.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Loom.slnx not found above the benchmark binary");
    }
}
