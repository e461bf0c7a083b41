#!/usr/bin/env bash
# Deterministic cost of the SIP core's code paths (BENCHMARKS.md, issue 4), counted by valgrind's
# callgrind: instructions and heap allocations per registration (its two requests,
# `sip-core/examples/register_cost.rs`) and per INVITE through the proxy's checks
# (`sip-core/examples/proxy_cost.rs`). CPU time on the development VMs moves by 10-30 % between runs;
# these counts do not, so they compare two versions of the parser, registrar or proxy exactly. The
# figures are the difference between 2,200 and 200 iterations, so start-up is left out.
#
# Usage: scripts/bench-sip-cost.sh [REV...]   (no REV: the working tree; each REV is built in a worktree)
# Needs: cargo, valgrind. SHA-256 runs in software under valgrind (no SHA extensions), so the digest
# and nonce part of the instruction count is larger than on the CPU; the allocation count is exact.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
command -v valgrind > /dev/null || { echo "bench-sip-cost: valgrind not found" >&2; exit 1; }
work=$(mktemp -d /tmp/bench-sip-cost.XXXXXX)
trees=()
cleanup() {
    for t in "${trees[@]}"; do git -C "$root" worktree remove --force "$t" 2> /dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# counts BIN N: "instructions allocations" of one run of N iterations.
counts() {
    local out=$work/cg.out
    valgrind --tool=callgrind --callgrind-out-file="$out" "$1" "$2" > /dev/null 2> "$work/vg.log"
    local ir allocs
    ir=$(grep -o 'Collected : [0-9]*' "$work/vg.log" | awk '{print $3}')
    allocs=$(callgrind_annotate --tree=caller "$out" 2> /dev/null |
        grep -E '< .*:__rustc::__rdl_(alloc|realloc) \(' | grep -o '([0-9,]*x)' | tr -d '(),x' |
        awk '{s += $1} END {print s + 0}')
    echo "$ir $allocs"
}

# measure NAME DIR: both examples built in DIR (a target's release/examples).
measure() {
    local name=$1 dir=$2 example what a b
    for example in register_cost proxy_cost; do
        what=registration
        [[ $example == proxy_cost ]] && what=INVITE
        read -r -a a <<< "$(counts "$dir/$example" 200)"
        read -r -a b <<< "$(counts "$dir/$example" 2200)"
        echo "$name: $(((b[0] - a[0]) / 2000)) instructions, $(((b[1] - a[1]) / 2000)) allocations per $what"
    done
}

build() {
    (cd "$1" && CARGO_TARGET_DIR=$2 cargo build --release -q -p sip-core --example register_cost --example proxy_cost)
}

if (($# == 0)); then
    build "$root" "$root/target"
    measure "working tree" "$root/target/release/examples"
fi
for rev in "$@"; do
    tree=$work/tree-${rev//\//_}
    git worktree add --detach -q "$tree" "$rev"
    trees+=("$tree")
    # The example may be newer than REV: use the working tree's copy and its request helpers.
    mkdir -p "$tree/sip-core/examples" "$tree/sip-core/benches/support"
    cp "$root"/sip-core/examples/{register,proxy}_cost.rs "$tree/sip-core/examples/"
    cp "$root"/sip-core/benches/support/*.rs "$tree/sip-core/benches/support/"
    build "$tree" "${TARGET_DIR:-$work/target}"
    measure "$rev" "${TARGET_DIR:-$work/target}/release/examples"
done
