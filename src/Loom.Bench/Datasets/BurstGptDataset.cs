using System.Globalization;

namespace Loom.Bench.Datasets;

/// <summary>One row of a BurstGPT trace (columns Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type).</summary>
public readonly record struct BurstGptRow(double Timestamp, string Model, int RequestTokens, int ResponseTokens, string LogType);

/// <summary>
/// BurstGPT trace (Wang et al. 2024): as vLLM, keep the rows of one model (GPT-4) with a positive response length and
/// make prompts of random tokens of the request length. Rows are sampled at random (vLLM), or, with trace replay, the
/// first rows in time order keep their timestamps so the run reproduces the trace's bursts.
/// Without --dataset-path the small synthetic trace shipped in this assembly is used.
/// </summary>
public sealed class BurstGptDataset : IBenchDataset
{
    public const string EmbeddedTraceName = "burstgpt_synthetic.csv";
    private readonly PromptFactory _prompts;
    private readonly IReadOnlyList<BurstGptRow> _rows; // filtered, ascending Timestamp
    private readonly bool _replay;

    public BurstGptDataset(PromptFactory prompts, IReadOnlyList<BurstGptRow> rows, bool replayTimestamps = false, string model = "GPT-4")
    {
        _prompts = prompts;
        _rows = rows.Where(r => r.Model == model && r.ResponseTokens > 0 && r.RequestTokens > 0).OrderBy(r => r.Timestamp).ToArray();
        if (_rows.Count == 0) throw new InvalidDataException($"the BurstGPT trace has no row with Model '{model}' and positive Request and Response tokens.");
        _replay = replayTimestamps;
    }

    public string Name => "burstgpt";

    public IReadOnlyList<BurstGptRow> Rows => _rows;

    public IReadOnlyList<SampleRequest> Sample(int numRequests, Random rng)
    {
        IEnumerable<BurstGptRow> chosen;
        if (_replay)
        {
            if (numRequests > _rows.Count)
                throw new InvalidOperationException($"trace replay needs {numRequests} rows but the trace has {_rows.Count} usable ones; lower --num-prompts.");
            chosen = _rows.Take(numRequests);
        }
        else
        {
            // vLLM samples without replacement when it can, with replacement otherwise.
            if (numRequests <= _rows.Count)
            {
                var order = Enumerable.Range(0, _rows.Count).ToArray();
                rng.Shuffle(order);
                chosen = order.Take(numRequests).Select(i => _rows[i]);
            }
            else chosen = Enumerable.Range(0, numRequests).Select(_ => _rows[rng.Next(_rows.Count)]).ToArray();
        }
        return chosen.Select(row => _prompts.Make(_prompts.RandomTokens(row.RequestTokens, rng), row.ResponseTokens, rng) with
        {
            TraceTimestamp = _replay ? row.Timestamp : null,
        }).ToArray();
    }

    public static IReadOnlyList<BurstGptRow> LoadCsv(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"BurstGPT file not found: {path}", path);
        using var reader = new StreamReader(path);
        return ParseCsv(reader, path);
    }

    public static IReadOnlyList<BurstGptRow> LoadEmbedded()
    {
        var assembly = typeof(BurstGptDataset).Assembly;
        string name = assembly.GetManifestResourceNames().Single(n => n.EndsWith(EmbeddedTraceName, StringComparison.Ordinal));
        using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
        return ParseCsv(reader, EmbeddedTraceName);
    }

    /// <summary>Reads the CSV by header names, so extra or reordered columns are fine; names the file and line on bad data.</summary>
    public static IReadOnlyList<BurstGptRow> ParseCsv(TextReader reader, string source)
    {
        string header = reader.ReadLine() ?? throw new InvalidDataException($"{source}: empty file.");
        var columns = header.Split(',').Select(c => c.Trim()).ToList();
        int Column(string name) => columns.IndexOf(name) is var i and >= 0 ? i
            : throw new InvalidDataException($"{source}: missing column '{name}' (expected Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type).");
        int timestamp = Column("Timestamp"), model = Column("Model"), request = Column("Request tokens"), response = Column("Response tokens");
        int logType = columns.IndexOf("Log Type");
        var rows = new List<BurstGptRow>();
        int lineNumber = 1;
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var cells = line.Split(',');
            if (cells.Length < columns.Count) throw new InvalidDataException($"{source}:{lineNumber}: expected {columns.Count} columns, found {cells.Length}.");
            rows.Add(new BurstGptRow(
                ParseNumber(cells[timestamp], "Timestamp", source, lineNumber),
                cells[model].Trim(),
                (int)ParseNumber(cells[request], "Request tokens", source, lineNumber),
                (int)ParseNumber(cells[response], "Response tokens", source, lineNumber),
                logType >= 0 ? cells[logType].Trim() : ""));
        }
        return rows;
    }

    private static double ParseNumber(string cell, string column, string source, int line) =>
        double.TryParse(cell.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v
            : throw new InvalidDataException($"{source}:{line}: '{column}' is not a number: '{cell}'.");
}
