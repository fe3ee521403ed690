#!/usr/bin/env bash
# tests/test_mpi.sh — data parallel over MPI on localhost (2 and 3 ranks, one thread each) against
# one process with the same global batch: training losses, final adapters, evaluations and the
# run directory; calibration statistics; qera-exact init bit for bit across 1, 2 and 3 ranks (srr,
# whose packed bases change, across 1 and 2);
# resuming 2 -> 1 and 1 -> 2 ranks; the batch-divisibility refusal. Rank failures are in
# tests/test_faults.sh. Skips with a NOTE only when mpirun is absent (`make test-deps` installs it).
set -u
. "$(dirname "$0")/lib.sh"
if ! command -v mpirun >/dev/null; then
  echo "NOTE test_mpi.sh: mpirun not found (apt-get install openmpi-bin libopenmpi-dev, or make test-deps); skipped"
  exit 0
fi
M=$A/models/tinystories-1M/tinystories-1M.bin
PY=${PYTHON:-/usr/bin/python3}
W=$T/mpi
mkdir -p "$W"
export OMP_NUM_THREADS=1
# Under `make asan` (LSAN_OPTIONS set): OpenMPI dlcloses its MCA plugins in MPI_Finalize, so
# LeakSanitizer finds their allocations in "<unknown module>" frames that no suppression by library
# name can match. Leak checking of the ranks is off; address and UB checks stay on, and the
# single-process suites still check qpeft's own leaks.
[ -n "${LSAN_OPTIONS:-}" ] && export LSAN_OPTIONS="$LSAN_OPTIONS:detect_leaks=0"
# -x: pass the thread count (and the sanitizer options) to every rank; --oversubscribe: 3 ranks on 2 cores.
mpi() {
  local n=$1; shift
  mpirun --allow-run-as-root --oversubscribe -np "$n" -x OMP_NUM_THREADS ${LSAN_OPTIONS:+-x LSAN_OPTIONS} "$@"
}
one=(--threads 1 --quiet)
if ! mpi 2 "$Q" info --model "$M" >"$W/info.out" 2>"$W/info.err"; then
  fail "mpirun -np 2 qpeft info: $(tail -2 "$W/info.err")"; exit 0
fi
[ "$(grep -c '^weights hash' "$W/info.out")" = 1 ] && pass "under mpirun only rank 0 prints (one info block from 2 ranks)" \
  || fail "info under mpirun printed $(grep -c '^weights hash' "$W/info.out") blocks"

# 1. Calibration statistics: 2 ranks (batches dealt out, float64 sums reduced) vs one process.
cal=(--model "$M" --task rte --samples 24 --batch 4 --exact)
"$Q" calibrate --quiet "${cal[@]}" --out "$W/s1.h5" >/dev/null 2>"$W/c1.err" || fail "calibrate 1 process: $(tail -1 "$W/c1.err")"
mpi 2 "$Q" calibrate --quiet "${cal[@]}" --out "$W/s2.h5" >/dev/null 2>"$W/c2.err" || fail "calibrate 2 ranks: $(tail -1 "$W/c2.err")"
"$PY" - "$W/s1.h5" "$W/s2.h5" <<'PY' && pass "calibration statistics of 2 ranks equal one process's (counts exact, sums to float64 rounding)" || fail "calibration statistics differ"
import h5py, numpy as np, sys
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
assert len(names) > 4, names
worst = 0.0
for n in names:
    x, y = a[n][()], b[n][()]
    assert x.shape == y.shape, n
    if x.dtype.kind in "iu":
        assert (x == y).all(), n
        continue
    scale = np.abs(x).max() or 1.0
    err = np.abs(x - y).max() / scale
    worst = max(worst, err)
    assert err < 1e-12, (n, err)
for k, v in a.attrs.items():
    assert k in b.attrs, k
print("worst relative difference", worst)
PY

# 2. qera-exact from one statistics file: 1, 2 and 3 ranks give the same adapters bit for bit.
ini=(--model "$M" --format mxint3 --rank 8 --init qera-exact --calib-stats "$W/s1.h5")
"$Q" init --quiet "${ini[@]}" --out "$W/i1.h5" >/dev/null 2>"$W/i1.err" || fail "init 1 process: $(tail -1 "$W/i1.err")"
for n in 2 3; do
  mpi $n "$Q" init --quiet "${ini[@]}" --out "$W/i$n.h5" >/dev/null 2>"$W/i$n.err" || fail "init $n ranks: $(tail -1 "$W/i$n.err")"
done
"$PY" - "$W/i1.h5" "$W/i2.h5" "$W/i3.h5" <<'PY' && pass "qera-exact init bit-identical across 1, 2 and 3 ranks" || fail "qera-exact init differs across rank counts"
import h5py, numpy as np, sys
ref = h5py.File(sys.argv[1], "r")
names = []
ref.visit(lambda n: names.append(n) if isinstance(ref[n], h5py.Dataset) else None)
assert sum(n.endswith("/A") for n in names) == 6 * 7, names[:10]  # tinystories-1M: 6 layers x 7 linears
for path in sys.argv[2:]:
    f = h5py.File(path, "r")
    for n in names:
        x, y = ref[n][()], f[n][()]
        assert x.shape == y.shape and x.tobytes() == y.tobytes(), (path, n)
    assert np.abs(ref[names[0]][()]).max() > 0
PY

# srr changes W~, so its packed bases travel between the ranks too (their own serialisation).
sri=(--model "$M" --format mxint3 --rank 8 --init srr --calib-stats "$W/s1.h5")
"$Q" init --quiet "${sri[@]}" --out "$W/srr1.h5" >/dev/null 2>"$W/srr1.err" || fail "srr init 1 process: $(tail -1 "$W/srr1.err")"
mpi 2 "$Q" init --quiet "${sri[@]}" --out "$W/srr2.h5" >/dev/null 2>"$W/srr2.err" || fail "srr init 2 ranks: $(tail -1 "$W/srr2.err")"
"$PY" - "$W/srr1.h5" "$W/srr2.h5" <<'PY' && pass "srr init (packed W~ saved) bit-identical on 1 and 2 ranks, bases and adapters" || fail "srr init differs between 1 and 2 ranks"
import h5py, sys
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
assert any(n.startswith("base/") for n in names), names[:5]
for n in names:
    assert a[n][()].tobytes() == b[n][()].tobytes(), n
PY

# 3. Training: 2 ranks vs one process, same global batch, mxint3 base, qera-approx calibrated on
#    the task (2 ranks calibrate too), adapter dropout on, 20 steps, evaluations and checkpoints.
tr=(--model "$M" --task rte --max-steps 20 --batch 8 --lr 1e-3 --format mxint3 --init qera-approx --dropout 0.1
    --log-every 1 --eval-every 10 --save-every 10 --seed 7)
"$Q" train "${one[@]}" "${tr[@]}" --out "$W/t1" 2>"$W/t1.err" || fail "train 1 process: $(tail -1 "$W/t1.err")"
mpi 2 "$Q" train --quiet "${tr[@]}" --out "$W/t2" 2>"$W/t2.err" || fail "train 2 ranks: $(tail -1 "$W/t2.err")"
cmp_runs() {  # cmp_runs NAME DIR_REF DIR [FIRST_STEP]: losses 1e-5 relative, same step and eval rows
  "$PY" - "$2" "$3" "${4:-1}" <<'PY'
import json, sys
ref, got, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rows(d):
    L = [json.loads(l) for l in open(d + "/log.jsonl")]
    return [l for l in L if "eval" not in l], [l for l in L if "eval" in l]
(rt, re), (gt, ge) = rows(ref), rows(got)
rt = [r for r in rt if r["step"] >= first]; re = [r for r in re if r["step"] >= first]
assert [r["step"] for r in rt] == [r["step"] for r in gt], ([r["step"] for r in rt], [r["step"] for r in gt])
assert [r["step"] for r in re] == [r["step"] for r in ge], (re, ge)
worst = 0.0
for a, b in zip(rt, gt):
    err = abs(a["loss"] - b["loss"]) / abs(a["loss"])
    worst = max(worst, err)
    assert err <= 1e-5, (a["step"], a["loss"], b["loss"])
    assert abs(a["lr"] - b["lr"]) <= 1e-12 + 1e-6 * a["lr"], (a, b)
for a, b in zip(re, ge):
    for k, v in a["eval"].items():
        assert abs(v - b["eval"][k]) <= 1e-5 * max(1.0, abs(v)), (a["step"], k, v, b["eval"][k])
print("steps", len(rt), "worst loss rel diff", worst)
PY
}
out=$(cmp_runs "2 ranks" "$W/t1" "$W/t2" 2>&1) && pass "2 ranks vs 1 process: every step's loss within 1e-5 relative, same eval rows ($out)" \
  || fail "2 ranks vs 1 process: $out"
ls "$W/t2" | sort | tr '\n' ' ' >"$W/t2.ls"
[ "$(cat "$W/t2.ls")" = "best.h5 config.json last.h5 log.jsonl step-10.h5 step-20.h5 " ] \
  && pass "2 ranks wrote one run directory: $(cat "$W/t2.ls")" || fail "2-rank run directory: $(cat "$W/t2.ls")"
"$PY" - "$W/t1/last.h5" "$W/t2/last.h5" <<'PY' && pass "final adapters of 2 ranks equal one process's to fp32 summation rounding" || fail "final adapters differ"
import h5py, numpy as np, sys
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a["adapters"].visit(lambda n: names.append("adapters/" + n) if isinstance(a["adapters/" + n], h5py.Dataset) else None)
assert names
worst = 0.0
for n in names:
    x, y = a[n][()].astype(np.float64), b[n][()].astype(np.float64)
    # Adam divides by sqrt(v): a gradient entry that differs by rounding moves its weight by up to
    # ~lr per step in relative terms; over 20 steps that stays far below 1e-4 of the tensor's scale.
    err = np.abs(x - y).max() / np.abs(x).max()
    worst = max(worst, err)
    assert err < 1e-4, (n, err)
print("worst", worst)
PY

# 4. Resume across rank counts: 1 -> 2 (the 1-process step-10 checkpoint on 2 ranks) and 2 -> 1.
mpi 2 "$Q" train --quiet "${tr[@]}" --out "$W/r12" --resume "$W/t1/step-10.h5" 2>"$W/r12.err" || fail "resume 1->2: $(tail -1 "$W/r12.err")"
out=$(cmp_runs "1->2" "$W/t1" "$W/r12" 11 2>&1) && pass "resume 1 -> 2 ranks continues the single-process losses (steps 11-20: $out)" \
  || fail "resume 1 -> 2: $out"
"$Q" train "${one[@]}" "${tr[@]}" --out "$W/r21" --resume "$W/t2/step-10.h5" 2>"$W/r21.err" || fail "resume 2->1: $(tail -1 "$W/r21.err")"
out=$(cmp_runs "2->1" "$W/t1" "$W/r21" 11 2>&1) && pass "resume 2 -> 1 process continues the single-process losses (steps 11-20: $out)" \
  || fail "resume 2 -> 1: $out"

# 4b. Uneven shares: 13 examples in batches of 4 leave a last batch of 1 row (rank 1 gets none),
#     with --grad-accum 2 across epoch ends; the weighted gradient still matches one process.
head -14 "$A/glue/SST-2/train.tsv" >"$W/small.tsv"
ga=(--model "$M" --tsv "$W/small.tsv" --text-cols sentence --label-col label --dev "$W/small.tsv" --batch 4
    --grad-accum 2 --max-steps 6 --lr 1e-3 --format mxint3 --dropout 0.1 --log-every 1)
"$Q" train "${one[@]}" "${ga[@]}" --out "$W/ga1" 2>"$W/ga1.err" || fail "grad-accum 1 process: $(tail -1 "$W/ga1.err")"
mpi 2 "$Q" train --quiet "${ga[@]}" --out "$W/ga2" 2>"$W/ga2.err" || fail "grad-accum 2 ranks: $(tail -1 "$W/ga2.err")"
out=$(cmp_runs "uneven" "$W/ga1" "$W/ga2" 2>&1) && pass "uneven last batches with --grad-accum 2: 2 ranks match one process ($out)" \
  || fail "uneven shares: $out"

# mpi_error NAME PATTERN CMD...: exits non-zero with exactly one qpeft line on stderr, matching
# PATTERN (mpirun's own notices about the abort are not counted).
mpi_error() {
  local name=$1 pat=$2; shift 2
  local err; err=$("$@" 2>&1 >/dev/null); local rc=$?
  local q; q=$(printf '%s\n' "$err" | grep '^qpeft:')
  if [ $rc -ne 0 ] && [ "$(printf '%s\n' "$q" | grep -c .)" -eq 1 ] && printf '%s' "$q" | grep -qE -- "$pat"; then
    pass "$name (rc=$rc: $q)"
  else
    fail "$name: rc=$rc qpeft lines=[$q] wanted /$pat/"
  fi
}

# 5. A global batch that does not divide over the ranks is refused with one line.
mpi_error "batch 7 over 2 ranks refused" "global batch and must divide evenly over the 2 MPI ranks" \
  mpi 2 "$Q" train --quiet --model "$M" --task rte --max-steps 2 --batch 7 --out "$W/bad"
mpi_error "merge refused under mpirun" "runs in one process; start it without mpirun" \
  mpi 2 "$Q" merge --model "$M" --checkpoint "$W/t2/last.h5" --out "$W/merged.bin"
