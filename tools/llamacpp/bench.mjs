// Prompt-processing and token-generation speed of llama.cpp on one GGUF file, CPU only, the way llama-bench measures
// pp and tg, plus the aggregate generation rate of parallel sequences sharing one context (llama.cpp batches them
// into one decode per step).
//
//   node bench.mjs --model F.gguf [--pp 128] [--tg 128] [--threads 2] [--reps 3] [--parallel 16 --parallel-prompt 32]
//
// pp: one prompt of --pp tokens decoded in one batch, no new token. tg: --tg tokens generated greedily one at a time
// after a single token. Each is run once to warm up and then --reps times; the median time counts. parallel: --parallel
// sequences, each a --parallel-prompt-token prompt followed by --tg greedy tokens, all started at once; generated
// tokens over the wall time from start to the last token (prompt processing included), once after a warm-up round.
// Token ids are pseudo-random (a fixed recipe), so no tokenizer is involved. KV cache and flash attention stay at
// node-llama-cpp's defaults (F16 cache), as a llama.cpp user would run them.
//
// Prints {"model", "threads", "pp": {...}, "tg": {...}, "parallel": {...}} on stdout.
import { cpuLlama, emit, intArg, loadModel, parseArgs, requireArg, run } from "./llama.mjs";

run(async () => {
    const args = parseArgs(process.argv.slice(2));
    const modelPath = requireArg(args, "model");
    const pp = intArg(args, "pp", 128);
    const tg = intArg(args, "tg", 128);
    const threads = intArg(args, "threads", 2);
    const reps = Math.max(1, intArg(args, "reps", 3));
    const parallel = intArg(args, "parallel", 0);
    const parallelPrompt = intArg(args, "parallel-prompt", 32);

    const llama = await cpuLlama(threads);
    const model = await loadModel(llama, modelPath);
    const metadata = model.fileInfo.metadata;
    const vocab = metadata?.[metadata?.general?.architecture]?.vocab_size ?? metadata?.tokenizer?.ggml?.tokens?.length;
    const ids = tokenIds(vocab);
    const result = { model: modelPath, threads, llama_cpp: llama.llamaCppRelease ?? null };

    const single = await model.createContext({
        contextSize: pp + tg + 16,
        batchSize: Math.max(pp, 32),
        sequences: 1,
        threads: { ideal: threads, min: threads },
    });
    const sequence = single.getSequence();
    if (pp > 0) {
        const prompt = ids(pp, 1);
        result.pp = summarize(pp, await timed(reps, async () => {
            await sequence.clearHistory();
            await sequence.evaluateWithoutGeneratingNewTokens(prompt);
        }));
    }
    if (tg > 0) {
        const start = ids(1, 2);
        result.tg = summarize(tg, await timed(reps, async () => {
            await sequence.clearHistory();
            await generate(sequence, start, tg);
        }));
    }
    await single.dispose();

    if (parallel > 0) {
        const context = await model.createContext({
            contextSize: parallelPrompt + tg + 16,
            batchSize: Math.max(512, parallel),
            sequences: parallel,
            threads: { ideal: threads, min: threads },
        });
        const sequences = Array.from({ length: parallel }, () => context.getSequence());
        const prompts = sequences.map((_, i) => ids(parallelPrompt, 100 + i));
        const round = async () => {
            await Promise.all(sequences.map(s => s.clearHistory()));
            const begin = performance.now();
            const counts = await Promise.all(sequences.map((s, i) => generate(s, prompts[i], tg)));
            return { seconds: (performance.now() - begin) / 1000, tokens: counts.reduce((a, b) => a + b, 0) };
        };
        await round(); // warm-up
        const { seconds, tokens } = await round();
        result.parallel = { sequences: parallel, prompt_tokens: parallelPrompt, tokens_each: tg, generated: tokens, seconds, tokens_per_s: tokens / seconds };
        await context.dispose();
    }
    emit(result);
});

/** Greedy generation of n tokens after `prompt`; returns how many came (always n: end-of-generation tokens count). */
async function generate(sequence, prompt, n) {
    let count = 0;
    for await (const _ of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
        if (++count === n) break;
    }
    return count;
}

/** One warm-up call, then `reps` timed calls; returns their durations in seconds. */
async function timed(reps, action) {
    await action();
    const seconds = [];
    for (let i = 0; i < reps; i++) {
        const begin = performance.now();
        await action();
        seconds.push((performance.now() - begin) / 1000);
    }
    return seconds;
}

function summarize(tokens, seconds) {
    const sorted = [...seconds].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    return { tokens, seconds, median_seconds: median, tokens_per_s: tokens / median };
}

/** Deterministic pseudo-random token ids in [1, vocab) for a given stream number. */
function tokenIds(vocab) {
    if (!Number.isInteger(vocab) || vocab < 2) throw new Error(`cannot tell the model's vocabulary size (got ${vocab})`);
    return (count, stream) => Array.from({ length: count }, (_, i) => 1 + ((i + 1) * 7919 + stream * 104729) % (vocab - 1));
}
