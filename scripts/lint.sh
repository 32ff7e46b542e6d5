#!/usr/bin/env bash
# The lints: cargo fmt --check, cargo clippy -D warnings (all features, then each backend alone
# and without autodiff, so that no feature combination is left uncompiled), and cargo doc with
# warnings as errors. The tests are scripts/test.sh; CI (.ci/run) runs both.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/steps.sh

step "cargo fmt --check" cargo fmt --all -- --check

step "cargo clippy --all-targets --all-features -- -D warnings" \
  cargo clippy --all-targets --all-features -- -D warnings

# Each backend alone and without autodiff: these catch code that compiles only with another
# backend's Burn feature on (clippy only checks: no code generation).
for features in flex ndarray wgpu flex,autodiff flex,remote; do
  step "cargo clippy --all-targets --no-default-features --features $features -- -D warnings" \
    cargo clippy --all-targets --no-default-features --features "$features" -- -D warnings
done

# The crate's docs, warnings as errors. With the examples (documented too), the dependencies
# resolve with the dev-dependencies' features, as in the first clippy run, whose checked
# dependencies rustdoc then reuses (the library alone would check every Burn crate again).
step "cargo doc --all-features --lib --examples (warnings are errors)" \
  env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --lib --examples

say "all lints passed in $SECONDS s"
print_split
