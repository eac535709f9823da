#!/usr/bin/env bash
# Coverage-guided fuzzing of the rules (README, "Fuzzing"):
#
#   tests/fuzz/run.sh <json|loader|engines|claims> [seconds] [libFuzzer options...]
#
# Seeds the target with every fixture case (policy-test export --fuzz-seeds; the claims
# target with the claims fixtures), then runs
# libFuzzer for the given time (default 600 s) on the kept corpus in target/fuzz/corpus/<target>.
# A finding stops the run and is saved under tests/fuzz/artifacts/<target>/; copy it to
# tests/fuzz/regressions/<target>/ so that `cargo test` replays it (tests/all/fuzz_regressions.rs),
# and add a fixture for it under tests/cases.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain (libFuzzer's
# instrumentation flags are nightly-only); the checks themselves run on stable in `cargo test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

target="${1:?usage: tests/fuzz/run.sh <json|loader|engines|claims> [seconds] [libFuzzer options...]}"
seconds="${2:-600}"
shift $(($# < 2 ? $# : 2))
case "$target" in
  json | loader | engines) kind=policy ;;
  claims) kind=claims ;;
  *) echo "tests/fuzz/run.sh: unknown target $target (json, loader, engines or claims)" >&2; exit 2 ;;
esac
command -v cargo-fuzz >/dev/null || { echo "tests/fuzz/run.sh: cargo-fuzz is not installed: cargo install cargo-fuzz" >&2; exit 2; }

seeds="$root/target/fuzz/seeds"
corpus="$root/target/fuzz/corpus/$target"
mkdir -p "$corpus"
cargo run --quiet -p policy-test -- export --out "$root/target/fuzz/cases.jsonl" --fuzz-seeds "$seeds" >/dev/null

# -s none: no sanitizer. The rules forbid unsafe code, so AddressSanitizer would only slow the
# search; panics, aborts, hangs (-timeout) and memory growth (-rss_limit_mb) are the findings.
exec cargo +nightly fuzz run --fuzz-dir tests/fuzz -s none "$target" "$corpus" "$seeds/$kind" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
  -dict=tests/fuzz/policy.dict -print_final_stats=1 "$@"
