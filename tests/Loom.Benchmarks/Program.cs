using BenchmarkDotNet.Running;
using Loom.Benchmarks;

// `decode`: the single-stream CPU decode runner (docs/perf.md, "CPU decode"). Anything else: BenchmarkDotNet.
if (args.Length > 0 && args[0] == "decode")
    return DecodeBenchmark.Run(args[1..]);
// `kernels`: one-thread quantized and bf16 linear layers in CPU time (docs/perf.md, "Quantized CPU kernels").
if (args.Length > 0 && args[0] == "kernels")
    return QuantizedKernelBenchmark.Run(args[1..]);
// `half-packing`: the F16/BF16 prefill paths, widening in the tile vs once per panel, side by side (docs/perf.md, issue 12).
if (args.Length > 0 && args[0] == "half-packing")
    return HalfPackingBenchmark.Run(args[1..]);
// `half-layer`: one decoder layer's F16/BF16 linear layers through LinearJob on 1 and 2 threads, best pass (issue 12).
if (args.Length > 0 && args[0] == "half-layer")
    return HalfLayerBenchmark.Run(args[1..]);
// `attention`: one-thread causal prefill attention of one layer in CPU time (issue 12).
if (args.Length > 0 && args[0] == "attention")
    return AttentionBenchmark.Run(args[1..]);
// `bandwidth`: read bandwidth and the decode bound per GGUF file (docs/perf.md, "Decode and the bandwidth bound").
if (args.Length > 0 && args[0] == "bandwidth")
    return BandwidthBenchmark.Run(args[1..]);
// `engine`: offline engine throughput, prefix-cache TTFT and KV bytes per token (docs/perf.md, "Engine").
if (args.Length > 0 && args[0] == "engine")
    return EngineBenchmark.Run(args[1..]);

// `spec`: single-stream speculative decoding, with and without n-gram drafts (docs/perf.md, "Speculative decoding").
if (args.Length > 0 && args[0] == "spec")
    return SpeculativeBenchmark.Run(args[1..]);

// `grammar`: constrained-decoding mask time per token and compile time per schema (docs/perf.md, "Structured outputs").
if (args.Length > 0 && args[0] == "grammar")
    return GrammarBenchmark.Run(args[1..]);

// `grammar-decode`: constrained vs unconstrained decode throughput side by side (docs/perf.md, "Structured outputs").
if (args.Length > 0 && args[0] == "grammar-decode")
    return ConstrainedDecodeBenchmark.Run(args[1..]);

// `llamacpp`: Loom vs llama.cpp on the same GGUF files (docs/perf.md, "llama.cpp comparison").
if (args.Length > 0 && args[0] == "llamacpp")
    return LlamaCppBenchmark.Run(args[1..]);

// `router`: prefix-aware versus round-robin routing over 2 in-process replicas (docs/perf.md, "Router: prefix-aware versus round-robin").
if (args.Length > 0 && args[0] == "router")
    return RouterBenchmark.Run(args[1..]);

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
