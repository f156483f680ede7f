#!/usr/bin/env bash
# Every check and every test: formatting, clippy with warnings as errors,
# the build (the integration tests use the built module and binaries), and
# the whole test suite. Run as root: some tests start clients as another
# uid, and missing Debian packages are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked
# The README's main command, driven like a person at a terminal.
expect tests/demo.exp
cargo test --workspace --locked
