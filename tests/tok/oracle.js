// tests/tok/oracle.js — the reference: HF's Rust `tokenizers` crate (npm @anush008/tokenizers) encodes
// or decodes for tests/test_bpe.sh. Usage: node oracle.js encode TOKENIZER.json TEXTFILE
//                                          node oracle.js decode TOKENIZER.json IDSFILE
// encode prints the ids (add_special_tokens=false, as `qpeft tokenize`), one line, space separated;
// decode prints the text with no added newline.
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');
const [mode, tokFile, inFile] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokFile);
(async () => {
  if (mode === 'encode') {
    const text = fs.readFileSync(inFile).toString('utf8');
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    process.stdout.write(enc.getIds().join(' ') + '\n');
  } else if (mode === 'decode') {
    const ids = fs.readFileSync(inFile, 'utf8').trim().split(/\s+/).filter(s => s.length).map(Number);
    process.stdout.write(await tok.decode(ids, false));
  } else {
    throw new Error('usage: node oracle.js encode|decode TOKENIZER.json FILE');
  }
})().catch(e => { console.error(e.message || e); process.exit(1); });
