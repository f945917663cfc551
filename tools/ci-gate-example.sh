#!/usr/bin/env bash
# Gate a pull request on latency regressions with fusebench, or promote the baseline after a merge.
# See docs/ci-gating.md for GitHub Actions and GitLab CI jobs that call this script.
#
#   tools/ci-gate-example.sh [gate] [options]     # pull request: this checkout vs its merge base
#   tools/ci-gate-example.sh --promote [options]  # after merge to main: run the suite, move the baseline
#
# Gate mode
#   1. builds this checkout (swift build -c release, or tools/setup with --setup);
#   2. builds the merge base (git merge-base BASE_REF HEAD) in a temporary git worktree, with its own
#      --scratch-path (reused when it already holds a binary: cache it between CI runs);
#   3. runs `fusebench gate SUITE --against <merge-base binary>`: both builds measured in this one
#      session, their worker processes interleaved ABBA, so runner noise hits both sides alike;
#   4. writes the Markdown verdict to --out (gate.md), appends it to $GITHUB_STEP_SUMMARY when set;
#   5. exits with the gate's verdict:
#        0 pass          -> 0
#        1 regression    -> 1 (fail the job)
#        2 inconclusive  -> 0 with a warning (--inconclusive warn, default) or 2 (--inconclusive fail)
#        3 error         -> 3 (fail the job: bad suite, unusable database, merge base that cannot be
#                              built or has no `fusebench worker`, ...)
#        130 interrupted -> 130
#
# Promote mode (push to main): runs the suite with --processes N and points baseline NAME (main) at
# the new run: `fusebench run SUITE` then `fusebench baseline set main latest`. The database (--db)
# must persist between jobs (CI cache or artifact) for the baseline to be of use, e.g. to gate with
# `fusebench gate SUITE --baseline main` where building the merge base is not possible.
#
# Options
#   --suite SUITE            suite name or file (default: $FUSEBENCH_SUITE or smoke)
#   --base-ref REF           branch to find the merge base with (default: origin/main)
#   --processes N            worker processes per op and side per gate round (default 10: the pairs a look adds)
#   --max-time S             seconds the gate may spend re-measuring undecided ops (default 120)
#   --threshold PCT          override every op's threshold (default: the suite's)
#   --inconclusive warn|fail what exit 2 does to the job (default: $FUSEBENCH_CI_INCONCLUSIVE or warn)
#   --out FILE               Markdown verdict (default gate.md)
#   --db PATH                results database (default: $FUSEBENCH_DB or results/ci.sqlite)
#   --baseline NAME          baseline promoted by --promote (default main)
#   --cache-dir DIR          where merge-base builds live (default .build-ci)
#   --setup                  build this checkout with tools/setup (installs system packages first)
#   --configuration C        swift build configuration of both builds (default release; debug only
#                            to try the CI wiring quickly, never to decide anything)
#   --dry-run                print the commands instead of running them (nothing is built or run)
#   -h, --help               this text
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

mode=gate
suite="${FUSEBENCH_SUITE:-smoke}"
base_ref="origin/main"
processes=10
max_time=120
threshold=""
inconclusive="${FUSEBENCH_CI_INCONCLUSIVE:-warn}"
out="gate.md"
db="${FUSEBENCH_DB:-results/ci.sqlite}"
baseline="main"
cache_dir=".build-ci"
setup=0
config=release
dry_run=0

die() { echo "ci-gate: $*" >&2; exit 3; }
need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi; }

while [ "$#" -gt 0 ]; do
  case "$1" in
    gate) mode=gate ;;
    promote|--promote) mode=promote ;;
    --suite) need_value "$@"; suite="$2"; shift ;;
    --base-ref) need_value "$@"; base_ref="$2"; shift ;;
    --processes) need_value "$@"; processes="$2"; shift ;;
    --max-time) need_value "$@"; max_time="$2"; shift ;;
    --threshold) need_value "$@"; threshold="$2"; shift ;;
    --inconclusive) need_value "$@"; inconclusive="$2"; shift ;;
    --out) need_value "$@"; out="$2"; shift ;;
    --db) need_value "$@"; db="$2"; shift ;;
    --baseline) need_value "$@"; baseline="$2"; shift ;;
    --cache-dir) need_value "$@"; cache_dir="$2"; shift ;;
    --setup) setup=1 ;;
    --configuration) need_value "$@"; config="$2"; shift ;;
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

case "$inconclusive" in warn|fail) ;; *) die "--inconclusive must be warn or fail, got '$inconclusive'" ;; esac
case "$config" in release|debug) ;; *) die "--configuration must be release or debug, got '$config'" ;; esac
if [ "$setup" -eq 1 ] && [ "$config" != release ]; then die "--setup builds release; drop --configuration $config"; fi
[[ "$processes" =~ ^[0-9]+$ ]] || die "--processes must be a number, got '$processes'"
[[ "$max_time" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--max-time must be a number of seconds, got '$max_time'"

repo_root="$(git rev-parse --show-toplevel 2>/dev/null)" || die "not inside a git checkout"
cd "$repo_root"

# Prints a command; runs it unless --dry-run. A failing command ends the script with exit 3
# (an error, never to be mistaken for the gate's 1 = regression).
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  if [ "$dry_run" -eq 0 ]; then
    local rc=0
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then die "command failed with exit $rc: $*"; fi
  fi
}

# GitHub Actions understands ::warning::/::error:: lines; elsewhere they are plain log lines.
annotate() { # LEVEL MESSAGE
  if [ -n "${GITHUB_ACTIONS:-}" ]; then echo "::$1::$2"; else echo "ci-gate: $1: $2"; fi
}

build_head() {
  if [ "$setup" -eq 1 ]; then
    run tools/setup
  else
    run swift build -c "$config" --product fusebench
  fi
  if [ "$dry_run" -eq 1 ]; then
    head_bin=".build/$config/fusebench"
  else
    head_bin="$(swift build -c "$config" --show-bin-path)/fusebench" || die "swift build --show-bin-path failed"
    [ -x "$head_bin" ] || die "build finished but $head_bin is missing"
  fi
}

promote() {
  build_head
  run "$head_bin" run "$suite" --processes "$processes" --quiet --label "main $(git rev-parse --short HEAD)" --db "$db"
  run "$head_bin" baseline set "$baseline" latest --db "$db"
  run "$head_bin" baseline show "$baseline" --db "$db"
}

gate() {
  # The merge base: what this pull request would be merged into, not the tip of main (which may
  # contain unrelated changes, faster or slower, that are not this PR's doing).
  if ! git rev-parse --verify --quiet "$base_ref^{commit}" >/dev/null; then
    # Shallow CI clones often lack the base branch.
    local remote="${base_ref%%/*}" branch="${base_ref#*/}"
    if [ "$remote" != "$base_ref" ] && git remote | grep -qx "$remote"; then
      run git fetch --no-tags "$remote" "$branch"
    fi
  fi
  local merge_base
  if ! merge_base="$(git merge-base "$base_ref" HEAD 2>/dev/null)"; then
    if [ "$dry_run" -eq 1 ]; then
      merge_base="MERGE_BASE"
      echo "ci-gate: (dry run) cannot resolve '$base_ref' here; using the placeholder $merge_base"
    else
      die "no merge base between $base_ref and HEAD (in a shallow clone fetch more history: fetch-depth: 0)"
    fi
  fi
  if [ "$merge_base" = "$(git rev-parse HEAD)" ]; then
    annotate warning "HEAD is its own merge base: this gate compares the build with itself (A/A)"
  fi
  echo "ci-gate: head $(git rev-parse --short HEAD) vs merge base ${merge_base:0:10} of $base_ref"

  build_head

  local base_src="$cache_dir/src-${merge_base:0:12}" base_scratch="$cache_dir/build-${merge_base:0:12}"
  case "$base_scratch" in /*) ;; *) base_scratch="$repo_root/$base_scratch" ;; esac
  local base_bin="$base_scratch/$config/fusebench"
  if [ "$dry_run" -eq 0 ] && [ -x "$base_bin" ]; then
    echo "ci-gate: reusing the merge-base build $base_bin"
  else
    if [ "$dry_run" -eq 0 ]; then
      git worktree remove --force "$base_src" >/dev/null 2>&1 || true
      rm -rf "$base_src"
      # Remove the temporary worktree however this script ends; the build in $base_scratch stays.
      trap 'git worktree remove --force "'"$base_src"'" >/dev/null 2>&1 || true' EXIT
    fi
    run git worktree add --detach "$base_src" "$merge_base"
    # Same toolchain, same flags (and the same FUSEBENCH_TARGET_CPU, inherited) as the head build.
    run swift build -c "$config" --product fusebench --package-path "$base_src" --scratch-path "$base_scratch"
    if [ "$dry_run" -eq 0 ]; then
      [ -x "$base_bin" ] || die "merge-base build finished but $base_bin is missing"
    fi
  fi

  local args=(gate "$suite" --against "$base_bin" --processes "$processes" --max-time "$max_time" --format markdown --quiet --db "$db")
  if [ -n "$threshold" ]; then args+=(--threshold "$threshold"); fi

  printf '+'; printf ' %q' "$head_bin" "${args[@]}"; printf ' > %q\n' "$out"
  local rc=0
  if [ "$dry_run" -eq 0 ]; then
    mkdir -p "$(dirname "$out")"
    "$head_bin" "${args[@]}" > "$out" || rc=$?
    cat "$out"
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$out" >> "$GITHUB_STEP_SUMMARY"; fi
  else
    echo "ci-gate: (dry run) not measuring; the exit code would follow the gate's verdict (0 pass, 1 regression, 2 inconclusive: $inconclusive, 3 error)"
    exit 0
  fi

  case "$rc" in
    0) echo "ci-gate: pass"; exit 0 ;;
    1) annotate error "fusebench gate: performance regression against the merge base (see $out)"; exit 1 ;;
    2)
      if [ "$inconclusive" = fail ]; then
        annotate error "fusebench gate: inconclusive, too noisy to decide (see $out); failing because --inconclusive fail"
        exit 2
      fi
      annotate warning "fusebench gate: inconclusive, too noisy to decide within --max-time $max_time s (see $out)"
      exit 0 ;;
    3) annotate error "fusebench gate: error (exit 3), see the job log"; exit 3 ;;
    *) annotate error "fusebench gate: exit $rc"; exit "$rc" ;;
  esac
}

# Not `gate || ...`: that would switch off `set -e` inside the function.
if [ "$mode" = promote ]; then promote; else gate; fi
