// tests/tok/texts.js — the hard texts tests/test_bpe.sh encodes with qpeft and with HF tokenizers:
// writes OUTDIR/NAME.txt (the bytes) and OUTDIR/NAME.nfc (its NFC, what Qwen round-trips to).
// Usage: node texts.js OUTDIR
const fs = require('fs');
const path = require('path');
const T = {
  prose: 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.\n\nHowever little known the feelings or views of such a man may be on his first entering a neighbourhood...',
  code: 'def f(x):\n\tif x  >=  10:\n\t\treturn {"a": [1, 2, 3]}   # comment\n    else:\n        return None\n\n\n    \t  \n}}}); x+=1;//end',
  digits: '1234567890123 3.14159265358979 2024-05-26 1,000,000 007 42nd ١٢٣٤٥ ½ ²³ Ⅻ ⑳',
  contractions: "I'm you're he's she'd we'll they've it's don't I'M YOU'RE HE'S SHE'D WE'LL THEY'VE IT'S DON'T O'Neil's 'tis rock'n'roll 'S 'Ll 'ſ it'ſ it'ſelf 'ſt x''s",
  cjk: '日本語のテキストと中文字符，한국어 문장입니다。「引用」『二重』',
  emoji: 'family 👨‍👩‍👧‍👦 flag 🏳️‍🌈 skin 👍🏽 heart ❤️ keycap 1️⃣ 🫠🪿',
  nfd: 'Cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030Angstro\u0308m n\u0303 \u1100\u1161\u11A8 e\u0301\u0301',
  arabic: 'مرحبا بالعالم! هذا نصٌ عربيٌ مع تشكيل. שלום עולם',
  crlf: 'line one\r\nline two\r\n\r\n  indented\r\n\ttabbed\r\rcr only\n\n\n',
  controls: 'a\u0000b\u0001c\u0007d\u001b[31mred\u001b[0m\u007f\u0085next\u200bzero\u200dwidth\ufeffbom',
  specials: '<|begin_of_text|>Hello<|end_of_text|> <|im_start|>user\nhi<|im_end|>\n<|endoftext|><think>x</think><|reserved_special_token_5|><|im_start<|im_end|>|>',
  spaces: 'a\u00a0b\u3000\u3000c\u2028d\u2029e  \u2003 f\t \n \n\n   g \u00a0\u00a0 ',
  bom: '\ufeffStarts with a byte-order mark.',
  indic: 'नमस्ते दुनिया ক্ষ ภาษาไทย ཀུན་',
  long_word: 'x'.repeat(3000) + ' ' + ' '.repeat(500) + 'ab'.repeat(700) + '9'.repeat(100),
  mixed: "Don't   stop!!!  ...   — “quoted” «guillemets» ¿Qué? ‹›  $100.00 €5 ¥ #tag @user a.b.c e-mail ok?!",
  empty: '',
  lone_space: ' ',
};
const out = process.argv[2];
fs.mkdirSync(out, { recursive: true });
for (const [name, s] of Object.entries(T)) {
  fs.writeFileSync(path.join(out, name + '.txt'), s, 'utf8');
  fs.writeFileSync(path.join(out, name + '.nfc'), s.normalize('NFC'), 'utf8');
}
