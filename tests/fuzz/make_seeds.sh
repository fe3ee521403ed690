#!/usr/bin/env bash
# tests/fuzz/make_seeds.sh OUT QPEFT_BIN — seed corpora for every harness (make fuzz): the
# generated and asset-derived seeds of make_seeds.py, plus .qm files written by `qpeft quantize`
# from the tiny models in several formats, plus the harness's regression inputs.
set -eu
out=$1; q=$2
A=${QPEFT_ASSETS:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/assets}
/usr/bin/python3 "$(dirname "$0")/make_seeds.py" "$out" "$A"
/usr/bin/python3 "$(dirname "$0")/make_gguf_seeds.py" "$out"
mkdir -p "$out/fuzz_qmodel"
for m in tied untied; do
  for f in nf4 mxint3 int8 bf16; do
    "$q" quantize --model "$out/tiny/tiny_$m.bin" --format "$f" --out "$out/fuzz_qmodel/${m}_$f.qm" --quiet >/dev/null
  done
done
"$q" quantize --model "$out/tiny/tiny_tied.bin" --format nf4 --double-quant --modules q_proj,down_proj \
  --out "$out/fuzz_qmodel/tied_nf4dq_partial.qm" --quiet >/dev/null
d=$(dirname "$0")/regressions
for h in "$out"/fuzz_*; do
  [ -d "$d/$(basename "$h")" ] && cp "$d/$(basename "$h")"/* "$h"/ 2>/dev/null || true
done
exit 0
