#!/usr/bin/env bash
# bench/scale.sh — `make bench-scale` (issue 12; not in CI): generate random Llama checkpoints of
# real shapes (bench/gen_model) in a temporary directory, run the issue's commands on them under
# /usr/bin/time -v, and print the Scale table (command, wall time, peak RSS). OPENBLAS_CORETYPE is
# unset for these runs only, so qpeft picks its own kernels, as the issue's targets ask. Each
# big run takes /work/bigmem.lock (one >3 GiB job machine-wide) when that file exists.
# SCALE_SHAPES (default "tinyllama-1.1b llama2-7b"), SCALE_TMP (default $TMPDIR or /tmp).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
Q=$PWD/$BUILD/qpeft
GEN=$PWD/$BUILD/bench/gen_model
export QPEFT_ASSETS=${QPEFT_ASSETS:-$(cd .. && pwd)/shared/assets}
TMP=$(mktemp -d "${SCALE_TMP:-${TMPDIR:-/tmp}}/qpeft-scale.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
TEXT=$QPEFT_ASSETS/text/tinystories_train_head.txt
LOCK=${SCALE_LOCK:-/work/bigmem.lock}
rows=()
run() {  # run LABEL TARGET CMD...
  local label=$1 target=$2; shift 2
  local log="$TMP/time.log" lock=()
  [ -e "$LOCK" ] && lock=(flock "$LOCK")
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  env -u OPENBLAS_CORETYPE "${lock[@]}" /usr/bin/time -v "$@" >"$TMP/out.log" 2>"$log"
  local rc=$?
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
  rss=$(awk -v k="${rss:-0}" 'BEGIN { printf "%.2f", k / 1048576 }')
  rows+=("| $label | \`${*#$PWD/}\` | $wall | $rss | $target | rc $rc, load $load |")
  echo "$label: $wall, $rss GiB (rc $rc, load $load)" >&2
}
for shape in ${SCALE_SHAPES:-tinyllama-1.1b llama2-7b}; do
  M=$TMP/$shape
  run "$shape generate" "-" "$GEN" "$shape" "$M"
  run "$shape info" "-" "$Q" info --model "$M"
  if [ "$shape" = llama2-7b ]; then
    run "$shape train nf4 r8 B1 T256, 2 steps" "≤ 10 GiB" "$Q" train --model "$M" --text "$TEXT" --seq-len 256 \
      --format nf4 --rank 8 --batch 1 --max-steps 2 --eval-samples 1 --out "$TMP/run-7b"
    run "$shape init qera-exact 32×256" "≤ 45 min, ≤ 12 GiB" "$Q" init --model "$M" --calib-text "$TEXT" --samples 32 \
      --seq-len 256 --init qera-exact --format nf4 --rank 8 --out "$TMP/7b-qera.h5"
    run "$shape init loftq 5 iters" "≤ 15 min" "$Q" init --model "$M" --init loftq --loftq-iters 5 --format nf4 --rank 8 \
      --out "$TMP/7b-loftq.h5"
  else
    for fmt in nf4 mxint3; do
      tgt="≤ 2.5 GiB"; [ $fmt = mxint3 ] && tgt="≤ 2.2 GiB"
      run "$shape train $fmt r8 B4, 3 steps" "$tgt" "$Q" train --model "$M" --task sst2 --format $fmt --rank 8 \
        --init qlora --batch 4 --max-steps 3 --eval-samples 64 --out "$TMP/run-$fmt"
    done
    run "$shape init qera-exact 32×256" "≤ 5 min, ≤ 4 GiB" "$Q" init --model "$M" --calib-text "$TEXT" --samples 32 \
      --seq-len 256 --init qera-exact --format nf4 --rank 8 --out "$TMP/qera.h5"
    run "$shape init qera-exact 128×256" "report" "$Q" init --model "$M" --calib-text "$TEXT" --samples 128 \
      --seq-len 256 --init qera-exact --format nf4 --rank 8 --out "$TMP/qera128.h5"
  fi
  rm -rf "$M"
done
echo "| step | command | wall | peak RSS GiB | target | notes |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
