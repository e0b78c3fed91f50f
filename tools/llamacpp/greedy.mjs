// Greedy decoding with llama.cpp from token ids (not text, so no tokenizer can differ), CPU only.
//
//   node greedy.mjs --model F.gguf --prompt-ids 1,2,3 [--prompt-ids 4,5 ...] --n 24 --threads 2
//   node greedy.mjs --jobs jobs.json --threads 2     (jobs.json: [{"model": "F.gguf", "prompts": [[1,2,3]], "n": 24}])
//
// Prints {"threads", "results": [{"model", "sequences": [{"prompt_len", "tokens": [n ids]}]}]} on stdout, one result
// per model and one sequence per prompt, in order; a model llama.cpp cannot load or run gets {"model", "error"}. Generation never stops early: end-of-generation tokens are kept
// like any other token. The KV cache is F32 and flash attention off, so that an F32 file is computed in F32 throughout
// (llama.cpp's default F16 cache alone moves logits by ~1e-3, as much as the margins the comparison tolerates).
// --jobs runs many models in one process, paying llama.cpp's start-up (about a second) once.
import { readFileSync } from "node:fs";
import { cpuLlama, emit, intArg, loadModel, parseArgs, run } from "./llama.mjs";

run(async () => {
    const args = parseArgs(process.argv.slice(2), { repeatable: ["prompt-ids"] });
    const threads = intArg(args, "threads", 2);
    const jobs = readJobs(args);
    const llama = await cpuLlama(threads);
    const results = [];
    for (const job of jobs) {
        try {
            results.push({ model: job.model, sequences: await runJob(llama, job, threads) });
        } catch (err) {
            results.push({ model: job.model, error: String(err?.message ?? err) }); // one bad file must not hide the others
        }
    }
    emit({ threads, results });
});

function readJobs(args) {
    if (typeof args.jobs === "string") {
        const jobs = JSON.parse(readFileSync(args.jobs, "utf8"));
        if (!Array.isArray(jobs)) throw new Error(`${args.jobs}: expected a JSON array of jobs`);
        return jobs.map((job, i) => validateJob(job, `${args.jobs}[${i}]`));
    }
    if (typeof args.model !== "string") throw new Error("--model (or --jobs) is required");
    if (!args["prompt-ids"]) throw new Error("--prompt-ids is required with --model");
    return [validateJob({ model: args.model, prompts: args["prompt-ids"].map(parseIds), n: intArg(args, "n", 24) }, "arguments")];
}

function validateJob(job, where) {
    if (typeof job?.model !== "string") throw new Error(`${where}: "model" must be a path`);
    if (!Array.isArray(job.prompts) || job.prompts.length === 0) throw new Error(`${where}: "prompts" must be a non-empty array`);
    for (const prompt of job.prompts)
        if (!Array.isArray(prompt) || prompt.length === 0 || prompt.some(id => !Number.isInteger(id) || id < 0))
            throw new Error(`${where}: each prompt must be a non-empty array of token ids`);
    if (!Number.isInteger(job.n) || job.n < 0) throw new Error(`${where}: "n" must be a non-negative integer`);
    return job;
}

async function runJob(llama, job, threads) {
    const model = await loadModel(llama, job.model);
    try {
        const longest = Math.max(...job.prompts.map(p => p.length));
        const context = await model.createContext({
            contextSize: roundUp(longest + job.n + 1, 256),
            batchSize: roundUp(longest, 32),
            sequences: 1,
            threads: { ideal: threads, min: threads },
            flashAttention: false,
            experimentalKvCacheKeyType: "F32",
            experimentalKvCacheValueType: "F32",
        });
        const sequence = context.getSequence();
        const sequences = [];
        for (const prompt of job.prompts) {
            await sequence.clearHistory();
            sequences.push({ prompt_len: prompt.length, tokens: await greedy(sequence, prompt, job.n) });
        }
        return sequences;
    } finally {
        await model.dispose();
    }
}

async function greedy(sequence, prompt, n) {
    const tokens = [];
    if (n === 0) return tokens;
    for await (const token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
        tokens.push(token);
        if (tokens.length === n) break;
    }
    return tokens;
}

function parseIds(text) {
    const ids = String(text).split(",").map(s => Number(s.trim()));
    if (ids.length === 0 || ids.some(id => !Number.isInteger(id) || id < 0))
        throw new Error(`--prompt-ids must be comma-separated non-negative integers, got '${text}'`);
    return ids;
}

function roundUp(value, multiple) {
    return Math.ceil(value / multiple) * multiple;
}
