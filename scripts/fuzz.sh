#!/usr/bin/env bash
# Fuzz the wire protocol (frame reader, JSON bodies) and mfad's config
# parser for a bounded time, on the stable toolchain. See docs/fuzzing.md.
#
#   FUZZ_SECONDS  total fuzzing time, split evenly over the targets (60)
#   FUZZ_TARGETS  targets to run (frame body config)
#   FUZZ_SANITIZER  none (default), or address: ASan through RUSTC_BOOTSTRAP=1,
#                 several times slower; only worth it for unsafe code
#
# First the inputs in fuzz/regressions/<target>/ are replayed, then each
# target is fuzzed from its checked-in seeds (fuzz/seeds/<target>/) copied
# into a scratch corpus outside the git tree. Exits non-zero and prints the
# input's path if anything crashes; the git tree is left as it was.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
read -r -a targets <<<"${FUZZ_TARGETS:-frame body config}"
# Stable rustc refuses -Zsanitizer, which cargo fuzz passes for its default
# ASan build; with --sanitizer none everything it passes (sancov coverage,
# compare tracing, --cfg fuzzing) is stable. Its default build mode is
# optimized, with debug assertions and overflow checks.
sanitizer=${FUZZ_SANITIZER:-none}
flags=(--sanitizer "$sanitizer")
[ "$sanitizer" = none ] || export RUSTC_BOOTSTRAP=1

# libfuzzer-sys and rusqlite compile C/C++ with the cc crate.
if ! command -v c++ >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "fuzz: a C/C++ compiler is missing; run as root or install g++" >&2
        exit 1
    fi
    echo "fuzz: installing g++" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mfa-fuzz.XXXXXX")
keep=0
trap '[ "$keep" = 1 ] || rm -rf "$work"' EXIT

# Like --locked: never rewrite the checked-in fuzz/Cargo.lock behind git's back.
if ! cargo metadata --manifest-path fuzz/Cargo.toml --locked --format-version 1 \
    >/dev/null 2>"$work/lock.log"; then
    cat "$work/lock.log" >&2
    echo "fuzz: fuzz/Cargo.lock is out of date; refresh it from the main lock:" >&2
    echo "  cp Cargo.lock fuzz/Cargo.lock && cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 >/dev/null" >&2
    exit 1
fi

start=$SECONDS
cargo fuzz build "${flags[@]}"
echo "fuzz: build took $((SECONDS - start)) s"

failed=()
excerpt() { # the panic message and libFuzzer's verdict from a log
    grep -E -A3 'panicked at|ERROR: libFuzzer|Test unit written' "$1" |
        grep -v -E '^ +[0-9]+: |^ +at ' >&2 || tail -20 "$1" >&2
}
crashed() { # target, input
    failed+=("$1: $2")
    keep=1
}

# 1. Replay every saved crash: each one must now pass.
for t in "${targets[@]}"; do
    for f in fuzz/regressions/"$t"/*; do
        [ -f "$f" ] || continue
        if cargo fuzz run "${flags[@]}" "$t" "$f" -- -runs=1 >"$work/replay.log" 2>&1; then
            echo "fuzz: regression $f passes"
        else
            excerpt "$work/replay.log"
            crashed "$t" "$f"
        fi
    done
done

# 2. Fuzz each target for its share of the time.
per=$((seconds / ${#targets[@]}))
[ "$per" -ge 1 ] || per=1
for t in "${targets[@]}"; do
    corpus="$work/corpus/$t" artifacts="$work/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    cp fuzz/seeds/"$t"/* "$corpus"/
    seeds=$(find "$corpus" -type f | wc -l)
    log="$work/$t.log"
    echo "fuzz: $t for $per s from $seeds seeds"
    rc=0
    cargo fuzz run "${flags[@]}" "$t" "$corpus" -- \
        -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    inited=$(grep -m1 -o 'INITED cov: [0-9]* ft: [0-9]*' "$log" || true)
    done_=$(grep -o '\(DONE\|pulse\|NEW\|REDUCE\)  *cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9a-zA-Z]*' "$log" | tail -1 || true)
    runs=$(grep -o '^Done [0-9]* runs' "$log" | tail -1 || true)
    echo "fuzz: $t: ${inited#INITED } -> ${done_#* } (${runs:-no summary})" | tr -s ' '
    if [ "$rc" -ne 0 ]; then
        excerpt "$log"
        found=0
        for a in "$artifacts"/*; do
            [ -f "$a" ] || continue
            crashed "$t" "$a"
            found=1
        done
        [ "$found" = 1 ] || crashed "$t" "(no input saved, exit status $rc; log $log)"
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED; crashing inputs (copy each to fuzz/regressions/<target>/):" >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "fuzz: no crashes ($((SECONDS - start)) s in all)"
