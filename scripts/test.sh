#!/usr/bin/env bash
# Every check and every test: formatting, clippy with warnings as errors,
# the build (the integration tests use the built module and binaries), and
# the README's demo, the end-to-end run through Debian packages and a real
# sshd, a minute of fuzzing, and the whole cargo test suite. Run as root: some tests start
# clients as another uid, the end-to-end run installs packages and creates
# users (and removes them), and missing Debian packages are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked
# The README's main command, driven like a person at a terminal.
expect tests/demo.exp
# Real packages, real sshd and ssh, the system PAM stack (root only).
bash tests/e2e/run.sh
# The protocol and config parsers under libFuzzer for about a minute.
bash scripts/fuzz.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
