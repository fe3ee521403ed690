// tests/llamacpp/tokenize.mjs — llama.cpp's own tokenizer (node-llama-cpp's prebuilt binaries,
// installed by `make test-deps`) as the oracle of qpeft's tokenizer built from a GGUF's
// tokenizer.ggml.* keys (data/gguf_tok.c).
//   node tokenize.mjs MODEL.gguf STRINGS.json   (a JSON array of strings)
// prints one JSON array: for each string, llama.cpp's ids without BOS (model.tokenize(s, false)).
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";

const [modelPath, stringsPath] = process.argv.slice(2);
const llama = await getLlama({ build: "never", gpu: false, usePrebuiltBinaries: true, skipDownload: true, logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, vocabOnly: true });
const strings = JSON.parse(fs.readFileSync(stringsPath, "utf8"));
console.log(JSON.stringify(strings.map((s) => Array.from(model.tokenize(s, false)))));
await model.dispose();
