#!/usr/bin/env bash
# tests/valgrind.sh — `make valgrind`: memcheck (--error-exitcode=1 --leak-check=full) on one short
# `qpeft train` (2 steps, a checkpoint every step, qpeft mode over an nf4 base, 32 SST-2 rows) and
# `qpeft merge` of its last checkpoint, on tinystories-1M. The binary is built without
# -march=native (valgrind 3.19 cannot execute AVX-512) and OpenBLAS is pinned to its Haswell
# kernels. Leaks inside OpenMP/OpenBLAS/HDF5 runtimes that are never freed by design are
# suppressed by tests/valgrind.supp (each entry says why). Exit 0 = clean.
set -u
cd "$(dirname "$0")/.."
Q=${QPEFT_BIN:-build-vg/qpeft}
A=${QPEFT_ASSETS:-$(cd .. && pwd)/shared/assets}
M=$A/models/tinystories-1M/tinystories-1M.bin
W=$(mktemp -d "${TMPDIR:-/tmp}/qpeft-vg.XXXXXX")
trap 'rm -rf "$W"' EXIT
# core/la.c re-execs /proc/self/exe (the valgrind tool itself under memcheck) unless these are set.
export OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=passive QPEFT_NO_REEXEC=1 OMP_NUM_THREADS=2
VG=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --suppressions=tests/valgrind.supp --gen-suppressions=all --num-callers=30)
rc=0
run() {  # name cmd...
  local name=$1; shift
  local t0=$(date +%s)
  "${VG[@]}" --log-file="$W/$name.vg" "$@" >"$W/$name.out" 2>"$W/$name.err"; local r=$?
  local summary; summary=$(grep -E 'ERROR SUMMARY|definitely lost|indirectly lost' "$W/$name.vg" | sed 's/^==[0-9]*== *//' | tr '\n' ';')
  if [ $r -eq 0 ]; then echo "valgrind $name: clean ($(( $(date +%s) - t0 ))s) $summary"
  else echo "valgrind $name: FAILED rc=$r ($(( $(date +%s) - t0 ))s) $summary"; tail -3 "$W/$name.err"
       cp "$W/$name.vg" "/tmp/qpeft-valgrind-$name.log"; echo "  full log: /tmp/qpeft-valgrind-$name.log"; rc=1; fi
}
# SST-2 rows through the generic TSV path, with a 16-row dev split so the closing evaluation is short.
head -n 33 "$A/glue/SST-2/train.tsv" >"$W/train.tsv"
head -n 17 "$A/glue/SST-2/dev.tsv" >"$W/dev.tsv"
run train "$Q" train --model "$M" --tsv "$W/train.tsv" --dev "$W/dev.tsv" --text-cols sentence --label-col label \
    --format nf4 --rank 4 --batch 4 --max-len 32 --max-steps 2 --save-every 1 --threads 2 --quiet --out "$W/run"
ls "$W/run"/*.h5 >/dev/null 2>&1 || { echo "valgrind train: no checkpoint written"; rc=1; }
run merge "$Q" merge --model "$M" --checkpoint "$W/run/last.h5" --out "$W/merged" --quiet
[ $rc -eq 0 ] && echo "valgrind: clean" || echo "valgrind: errors"
exit $rc
