#!/usr/bin/env bash
# tests/test_errors.sh — the bad-input classes of docs/errors.md that no other test provokes at
# the CLI: each must end with exactly one stderr line naming the file and the problem and an exit
# status in 1..125 (tests/lib.sh expect_error). Library-level twins live in test_loaders.c,
# test_qmodel.c, test_checkpoint.c, test_calibrate.c and test_data.c.
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M/tinystories-1M.bin
HF=$A/models/tinystories-1M/tinystories-1M-hf
TX=$A/text/tinystories_train_head.txt
PY=${PYTHON:-/usr/bin/python3}
D=$T/errors
mkdir -p "$D"

# ---- llama2.c model files -------------------------------------------------------------------
: >"$D/empty.bin"
expect_error "empty model file" "empty.bin: a llama2.c header of at least 28 bytes, found a 0-byte file" "$Q" info --model "$D/empty.bin"
head -c 100 "$M" >"$D/hdr.bin"
expect_error "model truncated after the header" "hdr.bin: 5511708 bytes .* found 100 bytes \(truncated\)" "$Q" info --model "$D/hdr.bin"
head -c 3000000 "$M" >"$D/mid.bin"
expect_error "model truncated inside the weights" "mid.bin: .* found 3000000 bytes \(truncated\)" "$Q" info --model "$D/mid.bin"
{ cat "$M"; printf 'xyz'; } >"$D/trail.bin"
expect_error "model with trailing bytes" "trail.bin: .* found 5511711 bytes \(trailing bytes\)" "$Q" info --model "$D/trail.bin"
printf 'GARBAGEGARBAGEGARBAGEGARBAGEGARBAGE' >"$D/magic.bin"
expect_error "model with a wrong magic (text)" "magic.bin: dim must be in \[1, 65536\], found 1112686919" "$Q" info --model "$D/magic.bin"
"$PY" - "$D" <<'PY'
import struct, sys
d = sys.argv[1]
open(d + "/ak42v2.bin", "wb").write(struct.pack("<Ii", 0x616B3432, 2) + b"\0" * 248)
open(d + "/huge_dims.bin", "wb").write(struct.pack("<7i", 2**31 - 1, 2**31 - 1, 2**31 - 1, 1, 1, 2**31 - 1, 2**31 - 1))
open(d + "/max_dims.bin", "wb").write(struct.pack("<7i", 65536, 1 << 20, 64, 2, 1, 1 << 22, 1 << 20))
open(d + "/kv_heads.bin", "wb").write(struct.pack("<7i", 64, 128, 2, 8, 3, 100, 32))
PY
expect_error "ak42 version 2 (int8) model" "ak42v2.bin: ak42 version 1 \(fp32\), found version 2" "$Q" info --model "$D/ak42v2.bin"
expect_error "absurd dimensions (INT32_MAX)" "huge_dims.bin: dim must be in \[1, 65536\], found 2147483647" "$Q" info --model "$D/huge_dims.bin"
expect_error "largest legal dimensions, 28-byte file" "max_dims.bin: 57312077414428 bytes .* found 28 bytes \(truncated\)" "$Q" info --model "$D/max_dims.bin"
expect_error "heads not a multiple of kv_heads" "kv_heads.bin: n_heads must be a multiple of n_kv_heads \(3\), found 8" "$Q" info --model "$D/kv_heads.bin"
cp "$M" "$D/nan.bin"; printf '\x00\x00\xc0\x7f' | dd of="$D/nan.bin" bs=1 seek=48 conv=notrunc status=none
expect_error "NaN in a model weight" "nan.bin: finite values in token_embedding, found nan at element 5" "$Q" info --model "$D/nan.bin"
expect_error "model path missing" "nope.bin" "$Q" info --model "$D/nope.bin"

# ---- Hugging Face directories ---------------------------------------------------------------
hf() { rm -rf "$D/$1"; mkdir -p "$D/$1"; cp "$HF"/* "$D/$1/"; }
hf hf_emptycfg; : >"$D/hf_emptycfg/config.json"
expect_error "empty config.json" "hf_emptycfg/config.json: invalid JSON at byte 0" "$Q" info --model "$D/hf_emptycfg"
hf hf_utf8; printf '{"model_type": "ll\xffama"}' >"$D/hf_utf8/config.json"
expect_error "non-UTF-8 config.json" "hf_utf8/config.json: invalid JSON at byte 18 .*expected valid UTF-8 in a string, found byte 0xff" "$Q" info --model "$D/hf_utf8"
hf hf_dim; sed -i 's/"hidden_size": 128/"hidden_size": 256/' "$D/hf_dim/config.json"
expect_error "config shape disagrees with the tensors" "hf_dim/model.safetensors: tensor model.embed_tokens.weight shape \[2048, 256\], found \[2048, 128\]" "$Q" info --model "$D/hf_dim"
hf hf_huge; sed -i 's/"hidden_size": 128/"hidden_size": 1099511627776/' "$D/hf_huge/config.json"
expect_error "absurd hidden_size in config.json" "hf_huge.*hidden_size|dim must be in" "$Q" info --model "$D/hf_huge"
hf hf_trunc; head -c 4000 "$HF/model.safetensors" >"$D/hf_trunc/model.safetensors"
expect_error "safetensors truncated inside the header" "hf_trunc/model.safetensors: " "$Q" info --model "$D/hf_trunc"
hf hf_trunc2; head -c 1000000 "$HF/model.safetensors" >"$D/hf_trunc2/model.safetensors"
expect_error "safetensors truncated inside the data" "hf_trunc2/model.safetensors: " "$Q" info --model "$D/hf_trunc2"
hf hf_hlen; printf '\xff\xff\xff\xff\xff\xff\xff\x7f' | dd of="$D/hf_hlen/model.safetensors" bs=1 seek=0 conv=notrunc status=none
expect_error "safetensors header length absurd" "hf_hlen/model.safetensors: a safetensors header length of at most" "$Q" info --model "$D/hf_hlen"
hf hf_empty_st; : >"$D/hf_empty_st/model.safetensors"
expect_error "empty model.safetensors" "hf_empty_st/model.safetensors: an 8-byte safetensors header length, found a 0-byte file" "$Q" info --model "$D/hf_empty_st"

# ---- qpeft .qm files ------------------------------------------------------------------------
"$Q" quantize --quiet --model "$M" --format nf4 --out "$D/m.qm" >/dev/null 2>&1
head -c 100 "$D/m.qm" >"$D/hdr.qm"
expect_error ".qm truncated inside the header" "hdr.qm: " "$Q" info --model "$D/hdr.qm"
cp "$D/m.qm" "$D/ver.qm"; printf '\x07' | dd of="$D/ver.qm" bs=1 seek=8 conv=notrunc status=none
expect_error ".qm with a wrong version" "ver.qm: .*version" "$Q" info --model "$D/ver.qm"
sz=$(stat -c %s "$D/m.qm"); head -c $((sz - 1)) "$D/m.qm" >"$D/short.qm"
expect_error ".qm one byte short" "short.qm: " "$Q" info --model "$D/short.qm"

# ---- text, TSV and task data ----------------------------------------------------------------
: >"$D/empty.txt"
expect_error "empty text file (ppl)" "empty.txt" "$Q" ppl --model "$M" --text "$D/empty.txt"
printf 'sentence\tlabel\n' >"$D/header_only.tsv"
tsv() { "$Q" train --model "$M" --tsv "$1" --text-cols "${2:-sentence}" --label-col label --dev "$1" --out "$D/run" --quiet "${@:3}"; }
expect_error "TSV with a header only" "header_only.tsv" tsv "$D/header_only.tsv"
: >"$D/empty.tsv"
expect_error "empty TSV" "empty.tsv" tsv "$D/empty.tsv"
printf 'sentence\tlabel\ngood film\t1\nno label here\nbad film\t0\n' >"$D/missing_col.tsv"
expect_error "TSV row with a missing column" "missing_col.tsv:3" tsv "$D/missing_col.tsv"
printf 'sentence\tlabel\ngood film\t4.5\nbad film\tfive\n' >"$D/score.tsv"
expect_error "TSV non-numeric regression label" "score.tsv:3" tsv "$D/score.tsv" sentence --regression
printf 'sentence\tlabel\ngood film\t1\n' >"$D/nocol.tsv"
expect_error "TSV column name not in the header" "nocol.tsv.*text" tsv "$D/nocol.tsv" text
mkdir -p "$D/glue/SST-2"; printf 'sentence\tlabel\ngood\tpositive\n' >"$D/glue/SST-2/train.tsv"; cp "$D/glue/SST-2/train.tsv" "$D/glue/SST-2/dev.tsv"
expect_error "GLUE label outside the task's labels" "SST-2/train.tsv:2" "$Q" train --model "$M" --task sst2 --data "$D/glue" --out "$D/run" --quiet
expect_error "GLUE directory missing" "nowhere" "$Q" train --model "$M" --task sst2 --data "$D/nowhere" --out "$D/run" --quiet

# ---- checkpoints and statistics files -------------------------------------------------------
"$Q" init --quiet --model "$M" --format nf4 --rank 4 --init qlora --out "$D/ad.h5" >/dev/null 2>&1
"$Q" calibrate --quiet --model "$M" --calib-text "$TX" --samples 4 --seq-len 32 --out "$D/stats.h5" >/dev/null 2>&1
ev() { "$Q" eval --model "$M" --checkpoint "$1" --task sst2 --quiet; }
: >"$D/empty.h5"
expect_error "empty checkpoint file" "empty.h5" ev "$D/empty.h5"
printf 'this is not an HDF5 file at all\n' >"$D/text.h5"
expect_error "checkpoint that is not HDF5" "text.h5" ev "$D/text.h5"
sz=$(stat -c %s "$D/ad.h5"); head -c $((sz / 2)) "$D/ad.h5" >"$D/half.h5"
expect_error "checkpoint truncated to half" "half.h5" ev "$D/half.h5"
expect_error "statistics file given as a checkpoint" "stats.h5" ev "$D/stats.h5"
expect_error "checkpoint given as a statistics file" "ad.h5: not a qpeft calibration statistics file" \
  "$Q" init --quiet --model "$M" --format nf4 --rank 4 --init qera-approx --calib-stats "$D/ad.h5" --out "$D/x.h5"
sz=$(stat -c %s "$D/stats.h5"); head -c $((sz - 100)) "$D/stats.h5" >"$D/stats_short.h5"
expect_error "statistics file truncated" "stats_short.h5" \
  "$Q" init --quiet --model "$M" --format nf4 --rank 4 --init qera-approx --calib-stats "$D/stats_short.h5" --out "$D/x.h5"

# ---- option values --------------------------------------------------------------------------
tr_opt() { "$Q" train --model "$M" --task sst2 --out "$D/run" --quiet "$@"; }
expect_error "--lr nan" "--lr expects a number, got 'nan'" tr_opt --lr nan
expect_error "--lr inf" "--lr expects a number, got 'inf'" tr_opt --lr inf
expect_error "--rank -1" "--rank must be in" tr_opt --rank -1
expect_error "--batch beyond int" "--batch expects an integer, got '99999999999'" tr_opt --batch 99999999999
expect_error "--max-steps not a number" "--max-steps expects an integer, got 'ten'" tr_opt --max-steps ten
expect_error "--warmup-ratio above 1" "--warmup-ratio must be in" tr_opt --warmup-ratio 1.5
expect_error "--threads -1" "--threads must be in" tr_opt --threads -1
expect_error "--seq-len 0" "--seq-len|--max-len" tr_opt --max-len 0
expect_error "--grad-accum 0" "--grad-accum" tr_opt --grad-accum 0
expect_error "--rank=4= (value with =)" "--rank expects an integer" tr_opt --rank=4=
expect_error "option given twice" "--lr given twice" tr_opt --lr 1e-3 --lr 2e-3

# ---- corrupted bytes in a checkpoint (v110 metadata checksums, Fletcher32 data) --------------
sz=$(stat -c %s "$D/ad.h5")
for off in 200 $((sz / 3)) $((sz - 300)); do
  cp "$D/ad.h5" "$D/flip$off.h5"; printf '\x5a' | dd of="$D/flip$off.h5" bs=1 seek=$off conv=notrunc status=none
  expect_error "checkpoint with byte $off overwritten" "flip$off.h5: " ev "$D/flip$off.h5"
done

# ---- non-UTF-8 text is data, not an error: the tokenizer maps the bytes (byte fallback) ------
for i in $(seq 30); do printf 'Once upon a time \xff\xfe there was a \xc3( cat.\n'; done >"$D/latin.txt"
out=$("$Q" ppl --model "$M" --text "$D/latin.txt" --seq-len 32 2>/dev/null); rc=$?
[ $rc -eq 0 ] && [[ "$out" == *"ppl "* ]] && pass "non-UTF-8 text is tokenized, not refused ($out)" || fail "non-UTF-8 text: rc=$rc [$out]"
