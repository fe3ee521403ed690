// tests/llamacpp/oracle.mjs — llama.cpp itself (the prebuilt binaries of the npm package
// node-llama-cpp, installed by `make test-deps`) as the outside oracle of qpeft's GGUF export.
// Nothing is compiled or downloaded: getLlama({build: "never", usePrebuiltBinaries, skipDownload}).
//
//   node oracle.mjs --model M.gguf [--lora A.gguf] gen N [PROMPT]
//       greedy: BOS (+ the prompt as llama.cpp tokenizes it), then argmax tokens until N
//       positions after BOS are printed (qpeft generate --steps N, run.c -n N). Prints one JSON line {"prompt_ids", "ids", "text"}.
//   node oracle.mjs --model M.gguf [--lora A.gguf] logprobs IDS_FILE OUT_FILE
//       feeds the whitespace-separated ids of IDS_FILE one position at a time and writes, for
//       every position but the last, ln p(token | prefix) for the whole vocabulary as
//       little-endian float64 (positions × vocab). llama.cpp has no raw-logits API: the
//       probabilities are its softmax at temperature 0, so ln p = logit − logsumexp.
// The KV cache is F32 (the default F16 cache would round keys and values) and flash attention off.
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";

const args = process.argv.slice(2);
let modelPath = null, loraPath = null;
while (args.length && args[0].startsWith("--")) {
    const flag = args.shift(), val = args.shift();
    if (flag === "--model") modelPath = val;
    else if (flag === "--lora") loraPath = val;
    else throw new Error(`unknown flag ${flag}`);
}
const mode = args.shift();

const llama = await getLlama({ build: "never", gpu: false, usePrebuiltBinaries: true, skipDownload: true, logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const ctxOpts = {
    contextSize: model.trainContextSize, batchSize: model.trainContextSize, threads: 1, sequences: 1,
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
    // Flash attention off: with it ("auto" turns it on for the CPU) llama.cpp's log-probs move by
    // ~7e-3 even with an F32 cache (measured on tinystories-1M; off: 2.3e-5 from qpeft's).
    flashAttention: false,
};
if (loraPath) ctxOpts.lora = { adapters: [{ filePath: loraPath, scale: 1.0 }] };
const context = await model.createContext(ctxOpts);
const seq = context.getSequence();
const V = model.fileInfo.metadata.tokenizer.ggml.tokens.length;

// Next-token distribution after feeding `tok` (the sequence keeps its history).
async function step(tok) {
    const out = await seq.controlledEvaluate([[tok, { generateNext: { probabilities: true } }]]);
    return out[0].next.probabilities;
}

function argmax(probs) {
    let best = -1, bp = -1;
    for (const [t, p] of probs) if (p > bp) { bp = p; best = t; }
    return best;
}

if (mode === "gen") {
    const n = Number(args.shift());
    const prompt = args.length ? args.shift() : "";
    const bos = model.tokens.bos;
    const promptIds = [bos, ...(prompt ? model.tokenize(prompt, false) : [])];
    // qpeft generate --steps n (run.c's -n) runs n positions from BOS: the prompt's pieces after
    // BOS are printed as they are forced, and the rest are argmax tokens, n in all.
    const ids = [];
    let probs = null, stoppedAtBos = false;
    for (const t of promptIds) probs = await step(t);
    for (let k = promptIds.length - 1; k < n; k++) {
        const next = argmax(probs);
        if (next === bos) { stoppedAtBos = true; break; }  // qpeft/run.c stop at BOS
        ids.push(next);
        if (k + 1 < n) probs = await step(next);
    }
    const text = model.detokenize([...promptIds.slice(1), ...ids]);
    console.log(JSON.stringify({ prompt_ids: promptIds, ids, stopped_at_bos: stoppedAtBos, text }));
} else if (mode === "logprobs") {
    const ids = fs.readFileSync(args.shift(), "utf8").trim().split(/\s+/).map(Number);
    const outPath = args.shift();
    const buf = new Float64Array((ids.length - 1) * V);
    for (let i = 0; i + 1 < ids.length; i++) {
        const probs = await step(ids[i]);
        for (let v = 0; v < V; v++) buf[i * V + v] = -Infinity;
        for (const [t, p] of probs) buf[i * V + t] = Math.log(p);
    }
    fs.writeFileSync(outPath, Buffer.from(buf.buffer));
    console.log(JSON.stringify({ positions: ids.length - 1, vocab: V }));
} else {
    throw new Error("mode must be gen or logprobs");
}
await context.dispose();
await model.dispose();
