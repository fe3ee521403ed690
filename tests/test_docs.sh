#!/usr/bin/env bash
# tests/test_docs.sh — the docs match the binary: every verb and every flag in each verb's
# --help appears in docs/cli.md, and the README names the two set-up commands and `make test`.
set -u
. "$(dirname "$0")/lib.sh"
D=$(dirname "$0")/../docs/cli.md
verbs=$("$Q" --help | awk '/^verbs:/{f=1; next} f && NF && $1 !~ /^global/ {print $1}')
[ -n "$verbs" ] && pass "qpeft --help lists verbs: $(echo $verbs)" || fail "no verbs in --help"
missing=""
for v in $verbs; do
  grep -q "^## qpeft $v\$" "$D" || missing="$missing verb:$v"
  for flag in $("$Q" "$v" --help | grep -oE '^  --[a-z0-9-]+' | tr -d ' '); do
    # the flag must appear in this verb's section of the doc
    awk -v v="## qpeft $v" -v f="$flag" '$0==v{s=1; next} /^## qpeft /{s=0} s && index($0, f" ")>0 {found=1} END{exit !found}' "$D" \
      || missing="$missing $v:$flag"
  done
done
[ -z "$missing" ] && pass "every verb and flag of --help is in docs/cli.md" || fail "docs/cli.md lacks:$missing (run: bash docs/gen_cli.sh > docs/cli.md)"
R=$(dirname "$0")/../README.md
grep -q "make demo" "$R" && grep -q "make test" "$R" && pass "README gives make demo and make test" || fail "README set-up commands"
grep -q "make test" "$(dirname "$0")/../.ci/run" && pass ".ci/run calls make test" || fail ".ci/run does not call make test"
