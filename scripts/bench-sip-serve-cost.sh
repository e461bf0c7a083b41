#!/usr/bin/env bash
# Deterministic cost of `crossbar serve` itself on the SIP core's thread (BENCHMARKS.md, issue 4):
# the server runs under valgrind's callgrind while sipp drives it slowly, and the thread's
# instructions and heap allocations are divided by the registrations or the calls sipp made. Unlike bench-sip-cost.sh, which counts the registrar's and proxy's code paths
# alone, this counts everything the server does: sockets, the transaction layer, the forks, the
# persister, the response building.
#
#   reg    2,000 users imported; sipp registers them (register_auth.xml, 401 then 200), then again
#          (refreshes); per registration (its two requests), over the 4,000.
#   calls  a sipp UAS registers as `service`, a sipp UAC makes 2,000 calls through the proxy at 100/s
#          (uac_rr.xml -> uas_rr.xml); per call.
#
# Usage: scripts/bench-sip-serve-cost.sh reg|calls BIN [BIN...]     (a BIN is a crossbar binary)
# Needs: valgrind, sipp. Uses udp 127.0.0.1:5390 (crossbar), 5391, 5460, 5480, 5481 (sipp).
# SHA-256 runs in software under valgrind: the challenge and digest part of the instructions is larger
# than on the CPU. The allocation counts are exact.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=${SHARED:-$root/../shared/sip}
mode=${1:?usage: bench-sip-serve-cost.sh reg|calls BIN [BIN...]}
shift
(($# > 0)) || { echo "bench-sip-serve-cost: no binary given" >&2; exit 2; }
for tool in valgrind callgrind_annotate sipp; do
    command -v "$tool" > /dev/null || { echo "bench-sip-serve-cost: $tool not found" >&2; exit 1; }
done
for p in 5390 5391 5460 5480 5481; do
    if [[ -n $(ss -Huln "sport = :$p") ]]; then echo "bench-sip-serve-cost: udp port $p is in use" >&2; exit 1; fi
done

BENCH=bench-sip-serve-cost
. scripts/bench-lib.sh
. scripts/bench-sip-lib.sh
trap 'exit 130' INT TERM

sip_bench_files 2000
sipp_to() { sipp 127.0.0.1:5390 -i 127.0.0.1 -nostdin -buff_size 4194304 "$@" > /dev/null 2>&1; }

# calls_to REGEX: how often the function whose entry in $work/tree matches REGEX was called (the sum
# of its callers' call counts; callgrind lists a function once per source file it has code from).
calls_to() {
    awk -v re="$1" '/^$/ {blk = ""; next} {blk = blk "\n" $0}
        $0 ~ ("\\*  .*" re) {print blk}' "$work/tree" |
        grep '<' | grep -o '([0-9,]*x)' | tr -d '(),x' | awk '{s += $1} END {print s + 0}'
}

srv=
# start BIN: crossbar serve under callgrind, one output file per thread in $work/cg.out-*.
start() {
    rm -f "$work"/crossbar.db* "$work"/cg.out*
    "$1" import "$work/users.csv" --config "$work/bench.toml" > /dev/null
    CROSSBAR_LOG=warn valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/cg.out" \
        "$1" serve --config "$work/bench.toml" 2> "$work/serve.log" &
    srv=$!
    pids+=("$srv")
    local i
    for ((i = 0; i < 300; i++)); do
        [[ -n $(ss -Huln "sport = :5390") ]] && { sleep 3; return 0; }
        sleep 0.2
    done
    echo "bench-sip-serve-cost: $1 does not listen on udp 5390" >&2
    return 1
}
# stop: ends the server and waits until valgrind has written its files (not in a subshell: only the
# shell that started it can wait for it).
stop() {
    kill -INT "$srv" 2> /dev/null || true
    wait "$srv" 2> /dev/null || true
    srv=
}
# counts: "instructions allocations" of the thread with the most instructions (the SIP core's).
counts() {
    local f best= most=0 n
    for f in "$work"/cg.out-*; do
        n=$(awk '/^summary:/ {print $2; exit}' "$f")
        ((n > most)) && { most=$n; best=$f; }
    done
    callgrind_annotate --tree=caller "$best" 2> /dev/null > "$work/tree"
    local allocs
    allocs=$(calls_to 'mimalloc[^ ]*/src/lib.rs:__rustc::__rust_(alloc|realloc) ')
    echo "$most $allocs"
}

reg() {
    start "$1"
    local rc1=0 rc2=0 n=4000
    sipp_to -sf "$root/tests/sipp/register_auth.xml" -inf "$work/reg.csv" -key expires 3600 -p 5391 \
        -m 2000 -r 150 -l 200 || rc1=$?
    sipp_to -sf "$root/tests/sipp/register_auth.xml" -inf "$work/reg.csv" -key expires 3600 -p 5391 \
        -m 2000 -r 150 -l 200 || rc2=$?
    stop
    local ir allocs
    read -r ir allocs <<< "$(counts)"
    echo "$1: sipp exit $rc1, $rc2; per registration $((ir / n)) instructions, $((allocs / n)) allocations"
}

calls() {
    start "$1"
    sipp -sf "$shared/sipp/uas_rr.xml" -i 127.0.0.1 -p 5480 -nostdin -buff_size 4194304 > /dev/null 2>&1 &
    local uas=$! rc=0
    pids+=("$uas")
    sleep 1
    sipp_to -sf "$root/tests/sipp/register_contact.xml" -inf "$work/uas.csv" -key contact_port 5480 -p 5481 -m 1 ||
        { echo "bench-sip-serve-cost: the UAS could not register" >&2; return 1; }
    sleep 1
    sipp_to -sf "$shared/sipp/uac_rr.xml" -s service -p 5460 -m 2000 -r 100 -d 0 -l 20000 \
        -default_behaviors all,-abortunexp || rc=$?
    sleep 2
    kill "$uas" 2> /dev/null || true
    wait "$uas" 2> /dev/null || true
    stop
    local ir allocs
    read -r ir allocs <<< "$(counts)"
    echo "$1: sipp exit $rc; per call $((ir / 2000)) instructions, $((allocs / 2000)) allocations"
}

case $mode in
    reg | calls) ;;
    *) echo "bench-sip-serve-cost: unknown mode $mode (reg or calls)" >&2; exit 2 ;;
esac
for bin in "$@"; do "$mode" "$bin"; done
