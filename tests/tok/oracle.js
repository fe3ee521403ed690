// tests/tok/oracle.js — the reference: HF's Rust `tokenizers` crate (npm @anush008/tokenizers) encodes
// or decodes for tests/test_bpe.sh, many files per run (a tokenizer loads once).
// Usage: node oracle.js encode TOKENIZER.json TEXTFILE...  -> TEXTFILE.ref: ids on one line
//        node oracle.js decode TOKENIZER.json IDSFILE...   -> IDSFILE.refdec: the decoded text
// encode is add_special_tokens=false, as `qpeft tokenize`.
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');
const [mode, tokFile, ...files] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokFile);
(async () => {
  for (const f of files) {
    if (mode === 'encode') {
      const enc = await tok.encode(fs.readFileSync(f).toString('utf8'), null, { addSpecialTokens: false });
      fs.writeFileSync(f + '.ref', enc.getIds().join(' ') + '\n');
    } else if (mode === 'decode') {
      const ids = fs.readFileSync(f, 'utf8').trim().split(/\s+/).filter(s => s.length).map(Number);
      fs.writeFileSync(f + '.refdec', await tok.decode(ids, false));
    } else {
      throw new Error('usage: node oracle.js encode|decode TOKENIZER.json FILE...');
    }
  }
})().catch(e => { console.error(e.message || e); process.exit(1); });
