#!/usr/bin/env bash
# Builds the example plug-in and runs its suite with the given fusebench; exits with fusebench's
# exit code (0 when every variant verified and was measured, 3 on an error).
#   examples/c-plugin/ci.sh PATH/TO/fusebench [extra `fusebench run` options...]
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 PATH/TO/fusebench [fusebench run options...]" >&2
    exit 3
fi
fusebench=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
here=$(cd "$(dirname "$0")" && pwd)
make -C "$here" >&2
db=$(mktemp -d "${TMPDIR:-/tmp}/fusebench-c-plugin.XXXXXX")
trap 'rm -rf "$db"' EXIT
set +e
"$fusebench" run "$here/bench/suite.toml" --db "$db/results.sqlite" --quiet "$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
    echo "ci.sh: fusebench run exited $status" >&2
    exit "$status"
fi
# Every variant must have passed verification (a rejected variant is not timed, but the run still
# exits 0), so check the stored accuracy checks too.
if "$fusebench" export latest --format junit --db "$db/results.sqlite" | grep -q "<failure"; then
    echo "ci.sh: a variant failed verification against its reference" >&2
    exit 1
fi
echo "ci.sh: example C plug-in built, verified and measured"
