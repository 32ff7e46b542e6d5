# Sourced by scripts/test.sh and scripts/lint.sh: `say` prints a heading, `step NAME CMD...`
# runs CMD and times it, `print_split` prints each step's time.
say() { printf '\n==> %s\n' "$*"; }

declare -a split=()
step() {
  local name="$1" t0=$SECONDS
  shift
  say "$name"
  "$@"
  split+=("$(printf '%6d s  %s' $((SECONDS - t0)) "$name")")
}

print_split() { printf '%s\n' "${split[@]}"; }
