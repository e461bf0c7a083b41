#!/usr/bin/env bash
# UNIStim side of the gateway under phonesim load (BENCHMARKS.md, issue 7), release builds, loopback only:
#   fleet      N simulated Avaya 1140E phones (phonesim --protocol unistim, one process, one UDP socket each)
#              imported with `crossbar import`, all saying hello at once from 8 source addresses
#              127.0.0.2-127.0.0.9 to `[unistim] listen`; a phone counts as connected once the gateway assigned
#              its terminal id (after hardware id, firmware, IT type and product code queries)
#   steady     STEADY_SECS once all are connected: the gateway keeps each phone alive with Reset Watchdog
#              (its RUDP default: after 30 s idle, watchdog 120 s); the gateway's VmRSS delta per phone and its
#              CPU (utime+stime from /proc/PID/stat over the window); phonesim's own VmRSS per phone
#   storm      every phone reboots at the same moment (a new hello with the reset sequence): time until all N
#              have their terminal id again
#   calls      CALL_PHONES phones, the first half calling the second half through the gateway at CALL_RATE
#              calls/s for CALL_SECS (talk time CALL_HOLD s): attempted/connected/failed, setup latency p50/p99
#              (last digit -> ring-back tone or audio stream, as phonesim sees it), RTP sent/received
# The load average is printed beside every figure.
# Usage: scripts/bench-unistim.sh           (about 3 minutes plus the release build)
#        QUICK=1 scripts/bench-unistim.sh   (2,000 phones, short windows)
# Environment: N (10000), STEADY_SECS (40), CALL_PHONES (1000), CALL_RATE (200), CALL_SECS (20), CALL_HOLD (1),
#   LOSS (0; percent of each phone's datagrams dropped, each direction), UNISTIM_PORT (5000; the next free of
#   5100, 5200 ... if taken), SCCP_PORT (2300), SIP_PORT (5190) (the next free ones, 7 apart, if taken),
#   NO_BUILD=1, KEEP=1 (keep the temp dir).
# Every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

ulimit -n "$(ulimit -Hn)"
if [[ ${QUICK:-0} == 1 ]]; then
    N=${N:-2000} STEADY_SECS=${STEADY_SECS:-10} CALL_SECS=${CALL_SECS:-5} CALL_PHONES=${CALL_PHONES:-200}
    CALL_RATE=${CALL_RATE:-20}
fi
N=${N:-10000}
STEADY_SECS=${STEADY_SECS:-40}
CALL_PHONES=${CALL_PHONES:-1000}
CALL_RATE=${CALL_RATE:-200}
CALL_SECS=${CALL_SECS:-20}
CALL_HOLD=${CALL_HOLD:-1}
LOSS=${LOSS:-0}
SIP_PORT=${SIP_PORT:-5190}
SCCP_PORT=${SCCP_PORT:-2300}

udp_busy() { [[ -n $(ss -Huln "sport = :$1") ]]; }
tcp_busy() { [[ -n $(ss -Htln "sport = :$1") ]]; }
while tcp_busy "$SCCP_PORT"; do
    SCCP_PORT=$((SCCP_PORT + 7))
    ((SCCP_PORT < 3000)) || { echo "bench-unistim: no free SCCP port" >&2; exit 1; }
done
while udp_busy "$SIP_PORT" || tcp_busy "$SIP_PORT"; do
    SIP_PORT=$((SIP_PORT + 7))
    ((SIP_PORT < 5990)) || { echo "bench-unistim: no free SIP port" >&2; exit 1; }
done
UNISTIM_PORT=${UNISTIM_PORT:-5000}
while udp_busy "$UNISTIM_PORT"; do
    UNISTIM_PORT=$((UNISTIM_PORT + 100))
    ((UNISTIM_PORT < 6000)) || { echo "bench-unistim: no free UNIStim port" >&2; exit 1; }
done

if [[ ${NO_BUILD:-0} != 1 ]]; then
    cargo build --release -p gateway -p tests --bin crossbar --bin phonesim
fi
crossbar=${CROSSBAR:-$root/target/release/crossbar}
phonesim=$root/target/release/phonesim

BENCH=bench-unistim
# shellcheck source=scripts/bench-lib.sh
source "$root/scripts/bench-lib.sh"

cat > "$work/crossbar.toml" << EOF
[store]
url = "sqlite://$work/crossbar.db"

[sip]
listen = ["udp:127.0.0.1:$SIP_PORT", "tcp:127.0.0.1:$SIP_PORT"]
default_domain = "bench.example.com"

[sccp]
listen = "127.0.0.1:$SCCP_PORT"

[unistim]
listen = "127.0.0.1:$UNISTIM_PORT"
EOF

fleet=(--protocol unistim --model avaya-1140e --mac-base 001365000000 --ext-base 300000)
echo "bench-unistim: $(date -u +%FT%TZ), $(nproc) cores, N=$N phones, loss ${LOSS}%, load $(load)"
"$phonesim" "${fleet[@]}" --phones "$N" --print-csv > "$work/fleet.csv"
"$crossbar" import "$work/fleet.csv" --config "$work/crossbar.toml" > "$work/import.log"
CROSSBAR_LOG=warn "$crossbar" serve --config "$work/crossbar.toml" > "$work/crossbar.log" 2>&1 &
gw=$!
pids+=("$gw")
for _ in $(seq 100); do udp_busy "$UNISTIM_PORT" && break; sleep 0.1; done
udp_busy "$UNISTIM_PORT" || { echo "bench-unistim: crossbar did not listen" >&2; cat "$work/crossbar.log" >&2; exit 1; }
sleep 1
rss0=$(rss "$gw")

# fleet + steady + storm: one phonesim run; the storm comes STORM_AFTER s after all are connected.
STORM_AFTER=$((STEADY_SECS + 15))
"$phonesim" "${fleet[@]}" --server "127.0.0.1:$UNISTIM_PORT" --phones "$N" --source-ips 127.0.0.2-127.0.0.9 \
    --loss "$LOSS" --storm --storm-after "$STORM_AFTER" --duration 5 --report-secs 5 --register-timeout 180 \
    > "$work/phonesim.log" 2>&1 &
ps=$!
pids+=("$ps")
for _ in $(seq 1900); do grep -q '^registered ' "$work/phonesim.log" && break; sleep 0.1; done
grep '^registered \|^phonesim footprint' "$work/phonesim.log" || { cat "$work/phonesim.log" >&2; exit 1; }
echo "bench-unistim: connected, load $(load)"
sleep 10
rss1=$(rss "$gw")
ps_rss=$(rss "$ps")
t0=$(ticks "$gw")
p0=$(ticks "$ps")
w0=$(grep '^progress\|^registered' "$work/phonesim.log" | tail -1 | sed -n 's/.*keepalives=[0-9]*\/\([0-9]*\).*/\1/p')
sleep "$STEADY_SECS"
t1=$(ticks "$gw")
p1=$(ticks "$ps")
w1=$(grep '^progress' "$work/phonesim.log" | tail -1 | sed -n 's/.*keepalives=[0-9]*\/\([0-9]*\).*/\1/p')
steady_load=$(load)
wait "$ps" || true
grep '^storm\|^final' "$work/phonesim.log"
rss2=$(rss "$gw")
storm_load=$(load)

echo
echo "## fleet and steady state ($N UNIStim phones)"
awk -v a="$rss0" -v b="$rss1" -v n="$N" 'BEGIN {printf "crossbar VmRSS: %d KiB before phones, %d KiB with %d connected: %.1f KiB per phone\n", a, b, n, (b - a) / n}'
awk -v t="$((t1 - t0))" -v hz="$hz" -v s="$STEADY_SECS" 'BEGIN {printf "crossbar CPU at steady state: %.1f %% of one core (%.2f s over %d s)\n", 100 * t / hz / s, t / hz, s}'
echo "Reset Watchdog received by the phones during the window: $((${w1:-0} - ${w0:-0}))"
awk -v t="$((p1 - p0))" -v hz="$hz" -v s="$STEADY_SECS" -v r="$ps_rss" -v n="$N" 'BEGIN {printf "phonesim: %.1f %% of one core, VmRSS %d KiB (%.1f KiB per phone)\n", 100 * t / hz / s, r, r / n}'
echo "load average during the window: $steady_load"
echo "crossbar VmRSS after the storm: $rss2 KiB (load $storm_load)"

echo
echo "## calls ($CALL_PHONES phones, $CALL_RATE calls/s for ${CALL_SECS}s, first half -> second half, hold ${CALL_HOLD}s)"
"$phonesim" "${fleet[@]}" --server "127.0.0.1:$UNISTIM_PORT" --phones "$CALL_PHONES" --loss "$LOSS" \
    --calls-per-sec "$CALL_RATE" --call-target peers --call-secs "$CALL_HOLD" \
    --duration "$CALL_SECS" --report-secs 5 > "$work/calls.log" 2>&1 || true
grep '^registered \|^final' "$work/calls.log" || tail -5 "$work/calls.log"
echo "load average: $(load)"
grep -ci 'error\|panic' "$work/crossbar.log" | sed 's/^/crossbar log lines with error or panic: /' || true
