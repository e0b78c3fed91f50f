using Loom.Models.Gguf;

namespace Loom.Benchmarks;

/// <summary>
/// The memory-bandwidth bound of single-stream decode (issue 12): the read bandwidth measured now
/// (<see cref="DecodeBandwidth"/>: a 1 GiB buffer, far larger than the 32 MiB L3, streamed with SIMD loads as one and
/// as two streams per thread, best of 5 each) at each thread count, and for each GGUF file the bytes one decoded token
/// must stream and the tokens/s that allows.
/// Bytes per token: every tensor of two or more dimensions as stored in the file (each layer's matrices and the
/// lm_head; with a tied lm_head the token embedding is that matrix), less the token embedding when the file has its
/// own output.weight (a lookup reads one row of it); norms and biases (1-D, a few hundred KB) are left out. Loom's
/// K-quant repack streams more than the file (<see cref="RepackedBytes"/>), so its own bound is given too.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- bandwidth [--threads 1,2] [--bound-only] FILE.gguf...
/// (--bound-only: one line per file and thread count, "threads bound-tokens/s", for scripts).
/// </summary>
internal static class BandwidthBenchmark
{
    public static int Run(string[] args)
    {
        var threadCounts = Option(args, "--threads", "1,2").Split(',').Select(int.Parse).ToArray();
        bool boundOnly = args.Contains("--bound-only");
        var files = args.Where(a => a.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)).ToArray();
        var bandwidth = threadCounts.ToDictionary(t => t, t => DecodeBandwidth.MeasureReadGBps(t));
        if (boundOnly)
        {
            foreach (var file in files)
                foreach (int t in threadCounts) Console.WriteLine($"{t} {bandwidth[t] * 1e9 / StreamedBytes(file).File:F1}");
            return 0;
        }
        foreach (int t in threadCounts) Console.WriteLine($"Read bandwidth, {t} thread(s): {bandwidth[t]:F1} GB/s (1 GiB streaming SIMD sum, one and two streams per thread, best of 5 each)");
        Console.WriteLine();
        Console.WriteLine("| file | MB/token (file) | MB/token (Loom's layout) | threads | bound t/s (file) | bound t/s (Loom's layout) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var file in files)
        {
            var (stored, repacked) = StreamedBytes(file);
            foreach (int t in threadCounts)
                Console.WriteLine($"| {Path.GetFileName(file)} | {stored / 1e6:F1} | {repacked / 1e6:F1} | {t} | {bandwidth[t] * 1e9 / stored:F1} | {bandwidth[t] * 1e9 / repacked:F1} |");
        }
        return 0;
    }

    /// <summary>Bytes one decoded token streams: as stored in the file, and in Loom's repacked layout.</summary>
    private static (long File, long Loom) StreamedBytes(string path)
    {
        using var gguf = GgufFile.Open(path);
        bool tied = !gguf.TensorsByName.ContainsKey("output.weight");
        long stored = 0, repacked = 0;
        foreach (var tensor in gguf.Tensors)
        {
            if (tensor.Dims.Length < 2 || (tensor.Name == "token_embd.weight" && !tied)) continue;
            stored += tensor.ByteLength;
            repacked += RepackedBytes(tensor);
        }
        return (stored, repacked);
    }

    /// <summary>
    /// A tensor's bytes as Loom's decode kernel streams them: the K-quants per 8 rows × 256 values take 1,440 (Q4_K,
    /// 1,152 stored) or 1,952 (Q5_K 1,408, Q6_K 1,680) bytes in <c>InterleavedSuperBlocks</c>; every other type keeps its
    /// stored size (the interleaved 32-value blocks and 16-bit rows hold the same bytes per weight).
    /// </summary>
    private static long RepackedBytes(GgufTensor tensor)
    {
        long groups = (tensor.ElementCount / tensor.Dims[0] + 7) / 8, blocks = tensor.Dims[0] / 256;
        return tensor.Type switch
        {
            GgmlType.Q4_K => groups * blocks * 1440,
            GgmlType.Q5_K or GgmlType.Q6_K => groups * blocks * 1952,
            _ => tensor.ByteLength,
        };
    }

    private static string Option(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
