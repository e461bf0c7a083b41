#!/usr/bin/env bash
# A/B of crossbar binaries on the SIP core's costs (BENCHMARKS.md, issue 4): each binary in turn, the same
# steps, so two builds can be compared on one machine within minutes.
#
#   reg    100,000 users imported into a new SQLite store; sipp registers them all (closed loop, 200
#          outstanding), QUIET seconds pass, then RATE re-registrations/s for 8 s. Prints the server's CPU per
#          registration for both parts and VmRSS at start, after the closed loop and at the end.
#   calls  the same store; a sipp UAS registers as `service`, a sipp UAC calls it through the proxy at RATE
#          calls/s for 45 s. Prints the CPU per call over seconds 0-8 and 35-43 (RFC 3261 keeps the
#          transactions 32 s, so the second window is steady state) and VmRSS at 8 and 43 s.
#
# Usage: scripts/bench-sip-ab.sh reg|calls BIN [BIN...]     (a BIN is a path to a crossbar binary)
# Environment: RATE (reg 5000, calls 1000), QUIET (reg: seconds between the two parts, default 33),
#   ROUNDS (default 1: every binary once per round, alternating), OPEN_SECS (reg: seconds of the open
#   loop, default 8). Each line ends with the open loop's (reg) or seconds 35-43's (calls) CPU per
#   operation by thread name, from /proc/PID/task/*/schedstat (ns): the SIP core, the SQLite writer
#   (sqlx-sqlite-worker) and the runtime's workers apart; for the SIP core also the times it was
#   scheduled in (its wake-ups) per operation.
# Needs: sipp. Uses udp 127.0.0.1:5390 (crossbar), 5391, 5460, 5480, 5481 (sipp).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=${SHARED:-$root/../shared/sip}
mode=${1:?usage: bench-sip-ab.sh reg|calls BIN [BIN...]}
shift
(($# > 0)) || { echo "bench-sip-ab: no binary given" >&2; exit 2; }
command -v sipp > /dev/null || { echo "bench-sip-ab: sipp not found" >&2; exit 1; }
for p in 5390 5391 5460 5480 5481; do
    if [[ -n $(ss -Huln "sport = :$p") ]]; then echo "bench-sip-ab: udp port $p is in use" >&2; exit 1; fi
done

BENCH=bench-sip-ab
. scripts/bench-lib.sh
. scripts/bench-sip-lib.sh
trap 'exit 130' INT TERM

sip_bench_files 100000

srv=
srv_ticks() { ticks "$srv"; }
srv_mib() { echo $(($(rss "$srv") / 1024)); }
# "name ns runs" per thread name of the server, summed (schedstat: CPU time, times scheduled in)
by_thread() {
    local t
    for t in /proc/"$srv"/task/*; do echo "$(cat "$t/comm") $(cut -d' ' -f1,3 "$t/schedstat")"; done |
        awk '{a[$1] += $2; r[$1] += $3} END {for (k in a) print k, a[k], r[k]}' | sort
}
# thread_us BEFORE AFTER N: "name=X.Xus" per thread with CPU between the two by_thread readings, per N,
# and for the SIP core also how often it was scheduled in (woke up) per N
thread_us() {
    join <(echo "$1") <(echo "$2") | awk -v n="$3" '{d = $4 - $2; if (d > 0) printf " %s=%.1fus", $1, d / 1000 / n;
        if ($1 == "sip-core") printf "/%.2fwakes", ($5 - $3) / n}'
}
us_per() { awk -v c="$1" -v n="$2" -v hz="$hz" 'BEGIN { printf "%.0f", c * 1e6 / hz / n }'; }
sipp_to() { sipp 127.0.0.1:5390 -i 127.0.0.1 -nostdin -buff_size 4194304 "$@" > /dev/null 2>&1; }

start() {
    rm -f "$work"/crossbar.db*
    "$1" import "$work/users.csv" --config "$work/bench.toml" > /dev/null
    CROSSBAR_LOG=warn "$1" serve --config "$work/bench.toml" 2> "$work/serve.log" &
    srv=$!
    pids+=("$srv")
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -n $(ss -Huln "sport = :5390") ]] && return 0
        sleep 0.1
    done
    echo "bench-sip-ab: $1 does not listen on udp 5390" >&2
    return 1
}
stop() {
    kill "$srv" 2> /dev/null || true
    wait "$srv" 2> /dev/null || true
    srv=
}

reg() {
    local rate=${RATE:-5000} c0 c1 c2 c3 r0 r1 r2
    start "$1"
    sleep 2
    r0=$(srv_mib)
    c0=$(srv_ticks)
    sipp_to -sf "$root/tests/sipp/register_auth.xml" -inf "$work/reg.csv" -key expires 3600 -p 5391 \
        -m 100000 -r 50000 -l 200 || echo "bench-sip-ab: closed loop had failures" >&2
    c1=$(srv_ticks)
    r1=$(srv_mib)
    sleep "${QUIET:-33}"
    local secs=${OPEN_SECS:-8} t0 t1
    c2=$(srv_ticks)
    t0=$(by_thread)
    sipp_to -sf "$root/tests/sipp/register_auth.xml" -inf "$work/reg.csv" -key expires 3600 -p 5391 \
        -m $((rate * secs)) -r "$rate" -l 20000 || echo "bench-sip-ab: open loop had failures" >&2
    sleep 1
    c3=$(srv_ticks)
    t1=$(by_thread)
    r2=$(srv_mib)
    stop
    echo "$1: closed loop $(us_per $((c1 - c0)) 100000) us/reg, ${rate}/s $(us_per $((c3 - c2)) $((rate * secs))) us/reg;" \
        "VmRSS start $r0, after the closed loop $r1, end $r2 MiB; by thread:$(thread_us "$t0" "$t1" $((rate * secs)))"
}

calls() {
    local rate=${RATE:-1000} uas c0 c1 c2 c3 r1 r3 rc=0
    start "$1"
    sleep 2
    sipp -sf "$shared/sipp/uas_rr.xml" -i 127.0.0.1 -p 5480 -nostdin -buff_size 4194304 > /dev/null 2>&1 &
    uas=$!
    pids+=("$uas")
    sleep 0.5
    sipp_to -sf "$root/tests/sipp/register_contact.xml" -inf "$work/uas.csv" -key contact_port 5480 -p 5481 -m 1 ||
        { echo "bench-sip-ab: the UAS could not register" >&2; return 1; }
    sleep 1
    sipp_to -sf "$shared/sipp/uac_rr.xml" -s service -p 5460 -m $((rate * 45)) -r "$rate" -d 0 -l 20000 \
        -default_behaviors all,-abortunexp &
    local uac=$!
    pids+=("$uac")
    local t0 t1
    c0=$(srv_ticks); sleep 8; c1=$(srv_ticks); r1=$(srv_mib); sleep 27; c2=$(srv_ticks); t0=$(by_thread)
    sleep 8; c3=$(srv_ticks); t1=$(by_thread); r3=$(srv_mib)
    wait "$uac" || rc=$?
    kill "$uas" 2> /dev/null || true
    wait "$uas" 2> /dev/null || true
    stop
    echo "$1: sipp exit $rc; seconds 0-8 $(us_per $((c1 - c0)) $((rate * 8))) us/call (VmRSS $r1 MiB)," \
        "seconds 35-43 $(us_per $((c3 - c2)) $((rate * 8))) us/call (VmRSS $r3 MiB); by thread:$(thread_us "$t0" "$t1" $((rate * 8)))"
}

case $mode in
    reg | calls) ;;
    *) echo "bench-sip-ab: unknown mode $mode (reg or calls)" >&2; exit 2 ;;
esac
for ((round = 1; round <= ${ROUNDS:-1}; round++)); do
    for bin in "$@"; do "$mode" "$bin"; done
done
