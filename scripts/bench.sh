#!/usr/bin/env bash
# Benchmarks (not tests; not run in CI): pam_mfa against Debian's
# google-authenticator-libpam and pam_oath through real libpam, a login
# storm and sustained load against one mfad, memory and start-up with
# 100,000 accounts. Run as root on Debian 12:
#
#   bash scripts/bench.sh                # full run, ~2 min after the build; rewrites the results in BENCHMARKS.md
#   BENCH_QUICK=1 bash scripts/bench.sh  # smoke run, under 1 min; prints results, BENCHMARKS.md untouched
#
# Missing Debian packages (libpam0g-dev, libpam-google-authenticator,
# libpam-oath, oathtool, gcc for the C host tests/c/pam_host.c) are
# installed first. Nothing in /etc is changed:
# every PAM stack is a service file in a scratch folder read through
# pam_start_confdir, and mfad runs on a socket and state directory there.
#
# Knobs (environment): BENCH_QUICK=1; BENCH_OUT=FILE (also write the
# results there); BENCH_WAIT_IDLE=SECONDS (wait up to this long for other
# work on the machine to stop; default 120); BENCH_TMPDIR (where the
# scratch folder goes; default $TMPDIR or /tmp); BENCH_KEEP=1 (keep it);
# BENCH_PAM_USERS, BENCH_WHOLE_LOGINS (whole-process logins per stack;
# default 100), BENCH_SIZES=1000,10000,100000, BENCH_THREADS,
# BENCH_SUSTAIN_SECS, BENCH_RATE to change the sizes. CARGO_TARGET_DIR is
# honoured. The whole-process section alone, after a build:
# target/release/mfa_bench whole [--logins N].
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root (google-authenticator's user= option, secret import into mfad)" >&2
    exit 1
fi

need=()
for pkg in libpam0g-dev libpam-google-authenticator libpam-oath oathtool gcc; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "bench: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --locked -p mfad -p pam_mfa -p mfa_bench

export BENCH_WAIT_IDLE="${BENCH_WAIT_IDLE:-120}"
args=(run)
if [ "${BENCH_QUICK:-0}" = "1" ]; then
    args+=(--quick --command "BENCH_QUICK=1 bash scripts/bench.sh")
else
    args+=(--update-doc BENCHMARKS.md --command "bash scripts/bench.sh")
fi
if [ -n "${BENCH_OUT:-}" ]; then
    args+=(--out "$BENCH_OUT")
fi
exec "$target/release/mfa_bench" "${args[@]}"
