#!/usr/bin/env bash
# ci.sh — builds this example, runs its suite (in-process and with worker processes), checks that
# a refused shape is exit 3 naming the suite file, and gates the build against itself (exit 0; an
# inconclusive 2 only warns unless FUSEBENCH_CI_INCONCLUSIVE=fail). Every exit code is checked;
# exits 0 when all hold, 1 otherwise. Called by tools/check-examples.
#
#   examples/swift-kernels/ci.sh            debug build (fast to build; enough to check behaviour)
#   CONFIG=release examples/swift-kernels/ci.sh
set -euo pipefail
cd "$(dirname "$0")"
config="${CONFIG:-debug}"

swift build -c "$config" --product mykernels-bench
bin="$(swift build -c "$config" --show-bin-path)/mykernels-bench"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
db="$tmp/ci.sqlite"

# expect CODE COMMAND...: runs COMMAND (stdout to $tmp/out, stderr to $tmp/err), fails unless it exits CODE.
expect() {
    local want=$1; shift
    local got=0
    "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    if [ "$got" -ne "$want" ]; then
        echo "ci.sh: expected exit $want, got $got from: $*" >&2
        tail -20 "$tmp/err" >&2
        exit 1
    fi
}

expect 0 "$bin" list ops
grep -q '^ *my_sgemm ' "$tmp/out" || { echo "ci.sh: list ops does not show my_sgemm" >&2; exit 1; }
grep -q '^ *scale_shift_relu ' "$tmp/out" || { echo "ci.sh: list ops does not show scale_shift_relu" >&2; exit 1; }

expect 0 "$bin" run bench/suite.toml --db "$db" --quick --counters none --quiet
expect 0 "$bin" run bench/suite.toml --db "$db" --quick --counters none --quiet --processes 2

# A shape the kernel refuses: exit 3, located in the suite file.
sed 's/rows = 64, cols = 250/rows = 0, cols = 250/' bench/suite.toml > "$tmp/bad.toml"
expect 3 "$bin" run "$tmp/bad.toml" --db "$db" --quick --counters none --quiet
grep -q "error: $tmp/bad.toml:[0-9]*:[0-9]*: .*shape.rows" "$tmp/err" || { echo "ci.sh: refused shape not reported at its line:" >&2; cat "$tmp/err" >&2; exit 1; }

# The build against itself: both sides measured in one session, interleaved. A regression (1) or an
# error (3) fails; inconclusive (2: too noisy to tell, e.g. on a loaded machine) is a warning, or a
# failure with FUSEBENCH_CI_INCONCLUSIVE=fail, as in tools/ci-gate-example.sh.
got=0
"$bin" gate bench/suite.toml --against "$bin" --db "$db" --quick --counters none --quiet --processes 2 --max-time 120 \
    >"$tmp/out" 2>"$tmp/err" || got=$?
case "$got" in
    0) verdict="pass" ;;
    2) if [ "${FUSEBENCH_CI_INCONCLUSIVE:-warn}" = fail ]; then
           echo "ci.sh: gate --against itself was inconclusive (exit 2) and FUSEBENCH_CI_INCONCLUSIVE=fail" >&2
           cat "$tmp/out" >&2
           exit 1
       fi
       echo "ci.sh: WARNING: gate --against itself was inconclusive (exit 2): the machine is too noisy to tell" >&2
       verdict="inconclusive (warned)" ;;
    *) echo "ci.sh: gate --against itself exited $got (expected 0, or 2 when too noisy)" >&2
       cat "$tmp/out" >&2
       tail -20 "$tmp/err" >&2
       exit 1 ;;
esac
echo "ci.sh: ok (list, run, run --processes 2, refused shape → 3, gate --against itself → $verdict)"
