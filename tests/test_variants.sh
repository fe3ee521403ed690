#!/usr/bin/env bash
# tests/test_variants.sh — the Llama-family variants end to end against tests/oracle_variants.py (an
# independent float64 PyTorch forward from transformers' semantics) on tiny random checkpoints:
# Llama-3.2 style (head_dim != hidden/heads, GQA, rope_scaling llama3, tied), Mistral (untied,
# sliding_window), Llama with rope_scaling linear. `ppl --ids` equals the oracle's loss, greedy
# `generate --prompt-ids` its ids; a few QPEFT steps (qera-exact, nf4) merge and export to HF and the
# oracle reads the export back to the same loss; unsupported configs fail in one line.
set -u
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
D=$(mktemp -d "$T/variants.XXXXXX")
TOK=$A/models/tok512/tok512.model
"$PY" -c 'import numpy as np; r=np.random.default_rng(3); print(" ".join(map(str, r.integers(3, 512, 40))))' > "$D/ids.txt"
close() { "$PY" -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if abs(a-b) <= 2e-5*abs(b) else 1)' "$1" "$2"; }
field() { "$PY" -c 'import json,sys; v=json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]]; print(" ".join(map(str,v)) if isinstance(v,list) else v)' "$1"; }

# check_model NAME DIR: ppl --ids and greedy generate vs the oracle.
check_model() {
  local name=$1 dir=$2 ref ours got want margin
  ref=$("$PY" tests/oracle_variants.py ref "$dir" "$D/ids.txt" 6) || { fail "$name: oracle failed"; return; }
  ours=$("$Q" ppl --model "$dir" --ids "$D/ids.txt" 2>"$D/err") || { fail "$name: ppl --ids: $(cat "$D/err")"; return; }
  close "$(field loss <<<"$ours")" "$(field loss <<<"$ref")" \
    && pass "$name: ppl --ids loss $(field loss <<<"$ours") = oracle $(field loss <<<"$ref") (rel 2e-5)" \
    || fail "$name: ppl --ids loss $(field loss <<<"$ours") vs oracle $(field loss <<<"$ref")"
  got=$("$Q" generate --model "$dir" --prompt-ids "$D/ids.txt" --temperature 0 --max-new 6 --print-ids 2>"$D/err")
  want=$(field greedy <<<"$ref"); margin=$(field margin <<<"$ref")
  [ "$got" = "$want" ] && pass "$name: greedy ids [$got] = oracle's (smallest top-2 logit margin $margin)" \
    || fail "$name: greedy ids [$got] vs oracle [$want] (margin $margin): $(cat "$D/err")"
}

for fam in llama3 mistral linear qwen2 qwen3; do
  "$PY" tests/oracle_variants.py gen "$D/$fam" "$fam" 7 || { fail "$fam: generator"; continue; }
  check_model "$fam" "$D/$fam"
done

# Each family: a few QPEFT steps (nf4, qera-exact), merged and exported to HF; the oracle reads the
# export back (its config.json and tensor names are all it has).
for fam in llama3 mistral linear qwen2 qwen3; do
  [ -d "$D/$fam" ] || continue
  "$Q" train --model "$D/$fam" --tokenizer "$TOK" --text "$A/text/tinystories_valid_head.txt" --format nf4 --rank 4 \
    --init qera-exact --max-steps 3 --seq-len 32 --batch 4 --out "$D/run-$fam" >"$D/train.log" 2>&1 \
    || { fail "$fam: train: $(tail -1 "$D/train.log")"; continue; }
  out=$("$Q" merge --model "$D/$fam" --checkpoint "$D/run-$fam/last.h5" --to hf --out "$D/merged-$fam" 2>"$D/err")
  mx=$(field max_abs_dlogit <<<"$out" 2>/dev/null)
  "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 1e-4 else 1)' "${mx:-1}" \
    && pass "$fam: 3 qpeft steps, merge --to hf reproduces the unmerged logits (max |dlogit| $mx)" \
    || fail "$fam: merge: [$out] $(cat "$D/err")"
  check_model "$fam merged export" "$D/merged-$fam"
done
grep -q '"rope_type": "llama3"' "$D/merged-llama3/config.json" && grep -q '"head_dim": 16' "$D/merged-llama3/config.json" \
  && pass "llama3: the export's config.json keeps head_dim and rope_scaling" || fail "llama3: export config lacks head_dim/rope_scaling"
"$Q" merge --model "$D/qwen2" --checkpoint "$D/run-qwen2/last.h5" --to peft --out "$D/peft-qwen2" >/dev/null 2>&1 \
  && grep -q '"q_proj"' "$D/peft-qwen2/adapter_config.json" \
  && "$PY" -c "import json,struct,sys; b=open('$D/peft-qwen2/adapter_model.safetensors','rb').read(); h=json.loads(b[8:8+struct.unpack('<Q',b[:8])[0]]); sys.exit(0 if 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight' in h else 1)" \
  && pass "qwen2: PEFT export uses the module names" || fail "qwen2: PEFT export"

# Unsupported configs: one line naming the field.
mk() { mkdir -p "$D/$1"; cp "$D/mistral/model.safetensors" "$D/$1/"; "$PY" -c "import json,sys; c=json.load(open('$D/mistral/config.json')); c.update($2); json.dump(c, open('$D/$1/config.json','w'))"; }
mk gemma '{"model_type": "gemma"}'
expect_error "model_type gemma is refused naming the field" '"model_type" "llama", "mistral", "qwen2" or "qwen3", found "gemma"' "$Q" ppl --model "$D/gemma" --ids "$D/ids.txt"
mkdir -p "$D/q3bias"; cp "$D/qwen2/model.safetensors" "$D/q3bias/"; "$PY" -c "import json; c=json.load(open('$D/qwen2/config.json')); c.update(model_type='qwen3', architectures=['Qwen3ForCausalLM']); json.dump(c, open('$D/q3bias/config.json','w'))"
expect_error "q/k/v biases in a Qwen3 checkpoint are refused" 'unexpected tensor model.layers.0.self_attn.q_proj.bias \(model_type qwen3 has no use for it\)' "$Q" ppl --model "$D/q3bias" --ids "$D/ids.txt"
mk yarn '{"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}'
expect_error "rope_scaling yarn is refused" 'rope_type "linear" or "llama3", found "yarn"' "$Q" ppl --model "$D/yarn" --ids "$D/ids.txt"
expect_error "ppl --ids: an id outside the vocabulary" 'item 2: id 512 is outside the vocabulary' sh -c "echo '5 512' > '$D/bad.txt'; '$Q' ppl --model '$D/mistral' --ids '$D/bad.txt'"
expect_error "generate --print-ids needs --prompt-ids" 'needs --prompt-ids' "$Q" generate --model "$D/mistral" --print-ids
expect_error "a .qm file refuses a Mistral config" 'cannot yet carry' "$Q" quantize --model "$D/mistral" --format nf4 --out "$D/m.qm"
rm -rf "$D"
