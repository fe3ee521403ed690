#!/usr/bin/env bash
# tests/test_init_cli.sh — `qpeft calibrate` -> `qpeft init` -> `qpeft error` end to end on
# tinystories-1M with small sample counts: the statistics file, adapter checkpoints (the packed
# base saved exactly when the method changed W~, read back with h5py), the error table and its
# CSV (header, row count, rank 0 and qlora equal the plain quantized model, statistics file and
# in-process calibration agree), and one-line errors (missing --out, unknown method, another
# model's statistics, statistics without Σxᵀx for qera-exact, bad format).
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M/tinystories-1M.bin
TX=$A/text/tinystories_train_head.txt
D=$T/init_cli
mkdir -p "$D"
PY=${PYTHON:-/usr/bin/python3}
small="--samples 8 --seq-len 64"

# calibrate
out=$("$Q" calibrate --quiet --model "$M" --calib-text "$TX" $small --exact --out "$D/stats.h5" 2>"$D/err")
rc=$?
[ $rc -eq 0 ] && [ -s "$D/stats.h5" ] && pass "calibrate --exact writes stats ($out)" || fail "calibrate: rc=$rc $(cat "$D/err")"
"$Q" calibrate --quiet --model "$M" --calib-text "$TX" $small --out "$D/stats_diag.h5" >/dev/null 2>"$D/err" \
  && pass "calibrate without --exact" || fail "calibrate (diag): $(cat "$D/err")"
chk=$("$PY" - "$D/stats.h5" "$D/stats_diag.h5" <<'EOF'
import sys, h5py
f = h5py.File(sys.argv[1], 'r'); g = h5py.File(sys.argv[2], 'r')
a = f.attrs
assert a['kind'] == 'qpeft-calib-stats' and a['samples'] == 8 and a['seq_len'] == 64 and a['has_xtx'] == 1, dict(a)
assert a['padding'] == 'excluded' and len(a['model_hash']) == 16
assert sorted(f['layer0'].keys()) == ['attn_in', 'down_in', 'mlp_in', 'o_in']
assert f['layer0/attn_in'].attrs['count'] == 8 * 64 and f['layer0/down_in/xtx'].shape == (352, 352)
assert f['layer0/attn_in'].attrs['feeds'] == 'q_proj,k_proj,v_proj'
assert g.attrs['has_xtx'] == 0 and 'xtx' not in g['layer0/attn_in']
x = f['layer3/mlp_in/xtx'][:]; s = f['layer3/mlp_in/sum_sq'][:]
assert abs(x.diagonal() - s).max() <= 1e-9 * abs(s).max(), 'diag(xtx) != sum_sq'
print('ok')
EOF
)
[ "$chk" = ok ] && pass "stats file layout read by h5py (attributes, groups, diag(Σxᵀx) == Σx²)" || fail "stats layout: $chk"

# init from the statistics file, and from text directly
for meth in qera-exact lqer loftq qlora; do
  "$Q" init --quiet --model "$M" --format mxint3 --rank 4 --init $meth --loftq-iters 2 --calib-stats "$D/stats.h5" \
    --out "$D/ad_$meth.h5" >"$D/out" 2>"$D/err" && pass "init $meth: $(cat "$D/out")" || fail "init $meth: $(cat "$D/err")"
done
"$Q" init --quiet --model "$M" --format mxint2-b16 --rank 4 --init srr --calib-text "$TX" $small --out "$D/ad_srr.h5" \
  >"$D/out" 2>"$D/err" && pass "init srr with --calib-text: $(head -1 "$D/out")" || fail "init srr: $(cat "$D/err")"
chk=$("$PY" - "$D" <<'EOF'
import sys, h5py, numpy as np
d = sys.argv[1]
for meth, base in [('qera-exact', False), ('lqer', False), ('loftq', True), ('qlora', False), ('srr', True)]:
    f = h5py.File(f'{d}/ad_{meth}.h5', 'r')
    assert f.attrs['init'] == meth and f.attrs['mode'] == 'qpeft' and f.attrs['rank'] == 4, (meth, dict(f.attrs))
    assert ('base' in f) == base, f'{meth}: base present={"base" in f}, expected {base}'
    A = f['adapters/layer2/up_proj/A'][:]; B = f['adapters/layer2/up_proj/B'][:]
    assert A.shape == (4, 128) and B.shape == (352, 4)
    if meth == 'qlora': assert not B.any() and A.any()
    else: assert np.abs(B).max() > 0 and np.isfinite(A).all()
print('ok')
EOF
)
[ "$chk" = ok ] && pass "checkpoints: mode qpeft, init name, A/B shapes, packed base saved exactly for loftq and srr" || fail "checkpoints: $chk"

# error: table + CSV
"$Q" error --quiet --model "$M" --calib-text "$TX" $small --eval-windows 2 --format mxint3,nf4 --ranks 0,4 \
  --inits qlora,loftq,qera-approx,qera-exact --loftq-iters 1,2 --csv "$D/err.csv" >"$D/table" 2>"$D/err"
rc=$?
[ $rc -eq 0 ] || fail "error: rc=$rc $(cat "$D/err")"  # (its outputs are checked below)
hdr=$(head -1 "$D/err.csv")
[ "$hdr" = "method,format,bits_per_weight,rank,iters,layer_out_err,logits_mse,logits_kl" ] && pass "CSV header" || fail "CSV header [$hdr]"
n=$(($(wc -l <"$D/err.csv") - 1))
[ $n -eq 20 ] && pass "CSV has 2 formats x 5 method/iters x 2 ranks = 20 rows" || fail "CSV rows $n"
chk=$("$PY" - "$D/err.csv" <<'EOF'
import sys, csv
rows = list(csv.DictReader(open(sys.argv[1])))
key = lambda r: (r['format'], r['method'], r['iters'], r['rank'])
R = {key(r): r for r in rows}
for fmt in ('mxint3-b32', 'nf4-b64'):
    w = R[(fmt, 'qlora', '0', '0')]
    for r in rows:
        if r['format'] == fmt and r['rank'] == '0':
            assert r['layer_out_err'] == w['layer_out_err'] and r['logits_kl'] == w['logits_kl'], ('rank 0', r)
    q4 = R[(fmt, 'qlora', '0', '4')]
    assert q4['layer_out_err'] == w['layer_out_err'], 'qlora B=0 must equal w-only'
    e = float(w['layer_out_err'])
    for m in ('qera-approx', 'qera-exact'):
        assert float(R[(fmt, m, '0', '4')]['layer_out_err']) < e, (fmt, m)
    assert float(R[(fmt, 'loftq', '2', '4')]['layer_out_err']) < float(R[(fmt, 'loftq', '1', '4')]['layer_out_err'])
    assert float(R[(fmt, 'qera-exact', '0', '4')]['logits_kl']) < float(w['logits_kl'])
assert float(R[('mxint3-b32', 'qlora', '0', '0')]['bits_per_weight']) == 3.25
print('ok')
EOF
)
[ "$chk" = ok ] && pass "CSV values: rank 0 == qlora == plain quantized; qera/loftq below it; loftq 2 < 1 iteration" || fail "CSV values: $chk"
"$Q" error --quiet --model "$M" --calib-text "$TX" --calib-stats "$D/stats.h5" --seq-len 64 --eval-windows 2 --format nf4 \
  --ranks 4 --inits qera-exact --csv "$D/err2.csv" >/dev/null 2>"$D/err" || fail "error --calib-stats: $(cat "$D/err")"
a=$(grep '^qera-exact,nf4-b64,.*,4,0,' "$D/err.csv"); b=$(sed -n 2p "$D/err2.csv")
# The two paths calibrate with different batch shapes, and sgemm is not batch-invariant under every
# OpenBLAS kernel, so the metrics agree to fp32 rounding (1e-5 relative), the text fields exactly.
close=$("$PY" -c '
import sys
a, b = sys.argv[1].split(","), sys.argv[2].split(",")
ok = len(a) == len(b) == 8 and a[:5] == b[:5] and all(abs(float(x) - float(y)) <= 1e-5 * abs(float(y)) for x, y in zip(a[5:], b[5:]))
print("ok" if ok else "differ")' "$a" "$b" 2>&1)
[ -n "$a" ] && [ "$close" = ok ] && pass "error with --calib-stats == calibrating in-process ($b)" || fail "stats vs in-process: [$a] vs [$b] ($close)"

# errors: one line each
expect_error "calibrate without --out" "--out is required" "$Q" calibrate --quiet --model "$M" --calib-text "$TX"
expect_error "init without --out" "--out is required" "$Q" init --quiet --model "$M" --format nf4 --rank 4 --init qlora
expect_error "init unknown method" "expected one of qlora" "$Q" init --quiet --model "$M" --format nf4 --rank 4 --init qera --out "$D/x.h5"
expect_error "error unknown method" "expected one of qlora" "$Q" error --quiet --model "$M" --calib-text "$TX" --format nf4 --inits qlora,bogus
expect_error "bad format" "--format mxint9" "$Q" init --quiet --model "$M" --format mxint9 --rank 4 --init qlora --out "$D/x.h5"
expect_error "init needs calibration" "needs calibration" "$Q" init --quiet --model "$M" --format nf4 --rank 4 --init lqer --out "$D/x.h5"
expect_error "qera-exact refuses stats without xtx" "--exact" "$Q" init --quiet --model "$M" --format nf4 --rank 4 --init qera-exact --calib-stats "$D/stats_diag.h5" --out "$D/x.h5"
cp "$D/stats.h5" "$D/other.h5"
"$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f.attrs['model_hash']='00000000deadbeef'" "$D/other.h5"
expect_error "stats from another model refused" "made for model hash 00000000deadbeef" "$Q" init --quiet --model "$M" --format nf4 --rank 4 --init qera-approx --calib-stats "$D/other.h5" --out "$D/x.h5"
expect_error "error: stats from another model refused" "made for model hash 00000000deadbeef" "$Q" error --quiet --model "$M" --calib-text "$TX" --calib-stats "$D/other.h5" --format nf4 --ranks 4 --inits qera-approx
expect_error "calibrate: text and task together" "exactly one of" "$Q" calibrate --quiet --model "$M" --calib-text "$TX" --task sst2 --out "$D/x.h5"
[ ! -e "$D/x.h5" ] && pass "no output file left by failed runs" || fail "a failed run left $D/x.h5"
# A task's training split: padded examples, padding excluded vs included.
"$Q" calibrate --quiet --model "$M" --task sst2 --samples 16 --out "$D/sst2.h5" >"$D/out" 2>"$D/err" &&
"$Q" calibrate --quiet --model "$M" --task sst2 --samples 16 --include-padding --out "$D/sst2p.h5" >/dev/null 2>>"$D/err"
rc=$?
chk=$("$PY" -c "
import h5py,sys
a=h5py.File(sys.argv[1],'r'); b=h5py.File(sys.argv[2],'r')
ca=a['layer0/attn_in'].attrs['count']; cb=b['layer0/attn_in'].attrs['count']
assert a.attrs['source']=='task:sst2' and a.attrs['padding']=='excluded' and b.attrs['padding']=='included'
assert ca < cb and cb % 4 == 0, (ca, cb)
print('ok', ca, cb)" "$D/sst2.h5" "$D/sst2p.h5" 2>&1)
[ $rc -eq 0 ] && [[ "$chk" == ok* ]] && pass "calibrate --task sst2: padding excluded counts fewer rows than included ($chk)" || fail "task calibration: rc=$rc $chk $(cat "$D/err")"
