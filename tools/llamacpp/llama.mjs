// Shared setup for the llama.cpp harness: argument parsing and a CPU-only llama.cpp that never builds or downloads.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

/** Parses `--name value` pairs (repeatable: the last one wins unless `repeatable` lists the name) and `--flag`. */
export function parseArgs(argv, { repeatable = [] } = {}) {
    const args = {};
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (!arg.startsWith("--")) throw new Error(`unexpected argument '${arg}'`);
        const name = arg.slice(2);
        const value = i + 1 < argv.length && !argv[i + 1].startsWith("--") ? argv[++i] : true;
        if (repeatable.includes(name)) (args[name] ??= []).push(value);
        else args[name] = value;
    }
    return args;
}

export function requireArg(args, name) {
    if (args[name] === undefined || args[name] === true) throw new Error(`--${name} is required`);
    return args[name];
}

export function intArg(args, name, fallback) {
    const raw = args[name] ?? fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer, got '${raw}'`);
    return value;
}

/**
 * llama.cpp on the CPU from the prebuilt @node-llama-cpp/linux-x64 binaries: no GPU, no source build, no download
 * (this machine reaches the npm registry only). `maxThreads` caps llama.cpp's thread pool at the requested count.
 */
export async function cpuLlama(threads) {
    return await getLlama({
        gpu: false,
        build: "never",
        usePrebuiltBinaries: true,
        skipDownload: true,
        progressLogs: false,
        logLevel: LlamaLogLevel.error,
        maxThreads: threads,
    });
}

export async function loadModel(llama, modelPath) {
    return await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
}

/** Writes one JSON object on stdout and exits (node-llama-cpp keeps worker handles alive otherwise). */
export function emit(result) {
    process.stdout.write(JSON.stringify(result) + "\n");
}

/** Runs `main`, turning any failure into a one-line error on stderr and exit code 1. */
export function run(main) {
    main().then(() => process.exit(0), err => {
        process.stderr.write(`error: ${err?.stack ?? err}\n`);
        process.exit(1);
    });
}
