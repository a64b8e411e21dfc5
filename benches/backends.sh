#!/usr/bin/env bash
# Runs one bench twice: on curve25519-dalek's default backend (AVX2, chosen
# at run time), then built with its AVX-512 backend
# (`--cfg curve25519_dalek_backend="avx512"`), in a target directory of its
# own so that neither build evicts the other. Arguments go to `cargo bench
# --all-features`, e.g.:
#
#   benches/backends.sh --bench verify
#   benches/backends.sh --bench instructions -- interleaved_access 60
#
# See benches/README.md ("Both backends").
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}

echo "== backend: default"
cargo bench --all-features "$@"

echo "== backend: avx512"
CARGO_TARGET_DIR="$target/avx512" RUSTFLAGS='--cfg curve25519_dalek_backend="avx512"' \
    cargo bench --all-features "$@"
