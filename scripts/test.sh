#!/usr/bin/env bash
# Runs every test on every backend (flex, ndarray, wgpu): the unit tests, the integration suite
# and the doc tests, with every feature but `train` (Burn's Learner, which only the denoise
# example uses; leaving it out saves compiling burn-train and its terminal UI). The lints (fmt, clippy, rustdoc) are scripts/lint.sh.
# wgpu runs for real: on a machine without a GPU it needs a software Vulkan driver, Mesa's
# lavapipe (Debian/Ubuntu package mesa-vulkan-drivers). If no Vulkan driver is installed, this
# script installs it with apt-get (as root, or through sudo) and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/steps.sh

have_vulkan_driver() {
  # The Vulkan loader (libvulkan1) and at least one installable client driver (ICD).
  # The cache listing is read whole before it is searched: `ldconfig -p | grep -q` fails
  # under `pipefail` when grep exits at its match and ldconfig, still writing, dies of
  # SIGPIPE (11 of 300 tries on a busy machine; it failed a CI run).
  local libs
  libs="$(ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null)" || return 1
  [[ "$libs" == *libvulkan.so.1* ]] || return 1
  compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null || compgen -G '/etc/vulkan/icd.d/*.json' >/dev/null
}

if have_vulkan_driver; then
  say "Vulkan driver found: $(ls /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ 2>/dev/null | grep json | tr '\n' ' ')"
else
  say "No Vulkan driver found: installing Mesa's software Vulkan driver (mesa-vulkan-drivers) for the wgpu tests"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to apt-get install mesa-vulkan-drivers" >&2; exit 1; }
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers libvulkan1
  have_vulkan_driver || { echo "error: still no Vulkan driver after installing mesa-vulkan-drivers" >&2; exit 1; }
fi

# Mesa complains when a headless process has no runtime dir; give it a private one.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"
  export XDG_RUNTIME_DIR
fi

# The unit tests and the integration suite (one binary), then the doc tests. Of the examples
# only `serve` is built: the remote tests run it as a separate process. scripts/lint.sh checks
# the others, and every feature (`train` included).
FEATURES="flex,ndarray,wgpu,autodiff,remote,internals"
step "cargo build --features $FEATURES --example serve" cargo build --features "$FEATURES" --example serve
# A test that never ends fails the run after 40 minutes (the step takes 7-8 here) instead of
# holding it until an outer limit: libtest names it ("has been running for over 60 seconds").
step "cargo test --features $FEATURES --lib --tests (flex, ndarray and wgpu)" \
  timeout 2400 cargo test --features "$FEATURES" --lib --tests
step "cargo test --features $FEATURES --doc" cargo test --features "$FEATURES" --doc

say "all tests passed in $SECONDS s"
print_split
