#!/usr/bin/env bash
# SCCP side of the gateway under phonesim load (BENCHMARKS.md, issue 5), release builds, loopback only:
#   fleet      N simulated Cisco 7970 phones (phonesim, one process) imported with `crossbar import`, registering
#              all at once from 8 source addresses 127.0.0.2-127.0.0.9 to `[sccp] listen`
#   steady     STEADY_SECS of keepalives (keepalive_secs = KEEPALIVE) once all are registered: the gateway's
#              VmRSS delta per phone (VmRSS registered - VmRSS before any phone, / N) and its CPU (utime+stime
#              from /proc/PID/stat over the window); phonesim's own VmRSS per phone
#   storm      every phone drops its connection at the same moment and reconnects at once: time until all N
#              have registered again (phonesim counts completed registrations: TimeDateRes received)
#   calls      CALL_PHONES more phones (imported too, not used before), the first half calling the second half at
#              CALL_RATE calls/s for CALL_SECS (talk time CALL_HOLD s): attempted/connected/failed, setup latency
#              p50/p99 (last digit -> ringback or connected, as phonesim sees it), RTP sent/received
# The load average is printed beside every figure.
#
# File descriptors: a phone is one TCP socket on each side, so N is capped by the hard `ulimit -n` of this shell
# (N = min(20000, hard limit - 300)); the script raises the soft limit to the hard one.
# Usage: scripts/bench-sccp.sh            (about 3 minutes plus the release build)
#        QUICK=1 scripts/bench-sccp.sh    (2,000 phones, short windows)
# Environment: N, KEEPALIVE (30), STEADY_SECS (30), CALL_PHONES (1000), CALL_RATE (200), CALL_SECS (20), CALL_HOLD (2),
#   SCCP_PORT (2000; the next free of 2100, 2200 ... if taken), SIP_PORT (5090; likewise 5190, 5290 ...), NO_BUILD=1,
#   KEEP=1 (keep the temp dir).
# Every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

ulimit -n "$(ulimit -Hn)"
hard=$(ulimit -Hn)
if [[ ${QUICK:-0} == 1 ]]; then
    N=${N:-2000} STEADY_SECS=${STEADY_SECS:-10} CALL_SECS=${CALL_SECS:-5} CALL_PHONES=${CALL_PHONES:-100}
    CALL_RATE=${CALL_RATE:-20}
fi
max=$((hard - 300))
N=${N:-$((max < 20000 ? max : 20000))}
((N <= max)) || { echo "bench-sccp: N=$N needs more than ulimit -Hn $hard file descriptors" >&2; exit 1; }
KEEPALIVE=${KEEPALIVE:-30}
STEADY_SECS=${STEADY_SECS:-30}
CALL_PHONES=${CALL_PHONES:-1000}
CALL_RATE=${CALL_RATE:-200}
CALL_SECS=${CALL_SECS:-20}
CALL_HOLD=${CALL_HOLD:-2}
port_busy() { [[ -n $(ss -Htln "sport = :$1") ]]; }
udp_busy() { [[ -n $(ss -Huln "sport = :$1") ]]; }
SIP_PORT=${SIP_PORT:-5090}
while udp_busy "$SIP_PORT" || port_busy "$SIP_PORT"; do
    SIP_PORT=$((SIP_PORT + 100))
    ((SIP_PORT < 6000)) || { echo "bench-sccp: no free SIP port" >&2; exit 1; }
done
SCCP_PORT=${SCCP_PORT:-2000}
while port_busy "$SCCP_PORT"; do
    SCCP_PORT=$((SCCP_PORT + 100))
    ((SCCP_PORT < 3000)) || { echo "bench-sccp: no free SCCP port" >&2; exit 1; }
done

if [[ ${NO_BUILD:-0} != 1 ]]; then
    cargo build --release -p gateway -p tests --bin crossbar --bin phonesim
fi
crossbar=$root/target/release/crossbar
phonesim=$root/target/release/phonesim

BENCH=bench-sccp
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
keepalive_secs = $KEEPALIVE
EOF

echo "bench-sccp: $(date -u +%FT%TZ), $(nproc) cores, N=$N phones, keepalive ${KEEPALIVE}s, SCCP port $SCCP_PORT, SIP port $SIP_PORT, load $(load)"
"$phonesim" --phones "$N" --mac-base 0004f2000000 --model cisco-7970 --ext-base 100000 --print-csv > "$work/fleet.csv"
# The calls step uses phones of their own (MACs 0004f21xxxxx, extensions from 300000), untouched by the storm.
"$phonesim" --phones "$CALL_PHONES" --mac-base 0004f2100000 --model cisco-7970 --ext-base 300000 --print-csv |
    tail -n +2 >> "$work/fleet.csv"
"$crossbar" import "$work/fleet.csv" --config "$work/crossbar.toml" > "$work/import.log"
CROSSBAR_LOG=warn "$crossbar" serve --config "$work/crossbar.toml" > "$work/crossbar.log" 2>&1 &
gw=$!
pids+=("$gw")
for _ in $(seq 100); do port_busy "$SCCP_PORT" && break; sleep 0.1; done
port_busy "$SCCP_PORT" || { echo "bench-sccp: crossbar did not listen" >&2; cat "$work/crossbar.log" >&2; exit 1; }
sleep 1
rss0=$(rss "$gw")

# fleet + steady + storm: one phonesim run; the storm comes STORM_AFTER s after all registered.
STORM_AFTER=$((STEADY_SECS + 15))
"$phonesim" --server "127.0.0.1:$SCCP_PORT" --phones "$N" --mac-base 0004f2000000 --model cisco-7970 \
    --ext-base 100000 --source-ips 127.0.0.2-127.0.0.9 --storm --storm-after "$STORM_AFTER" --duration 5 \
    --report-secs 5 --register-timeout 120 > "$work/phonesim.log" 2>&1 &
ps=$!
pids+=("$ps")
for _ in $(seq 1300); do grep -q '^registered ' "$work/phonesim.log" && break; sleep 0.1; done
grep '^registered \|^phonesim footprint' "$work/phonesim.log" || { cat "$work/phonesim.log" >&2; exit 1; }
echo "bench-sccp: registered, load $(load)"
sleep 10
rss1=$(rss "$gw")
ps_rss=$(rss "$ps")
t0=$(ticks "$gw")
p0=$(ticks "$ps")
sleep "$STEADY_SECS"
t1=$(ticks "$gw")
p1=$(ticks "$ps")
steady_load=$(load)
wait "$ps" || true
grep '^storm\|^final' "$work/phonesim.log"
rss2=$(rss "$gw")
storm_load=$(load)

echo
echo "## fleet and steady state ($N phones, keepalive ${KEEPALIVE}s)"
awk -v a="$rss0" -v b="$rss1" -v n="$N" 'BEGIN {printf "crossbar VmRSS: %d KiB before phones, %d KiB with %d registered: %.1f KiB per phone\n", a, b, n, (b - a) / n}'
awk -v t="$((t1 - t0))" -v hz="$hz" -v s="$STEADY_SECS" 'BEGIN {printf "crossbar CPU at steady state: %.1f %% of one core (%.2f s over %d s)\n", 100 * t / hz / s, t / hz, s}'
awk -v t="$((p1 - p0))" -v hz="$hz" -v s="$STEADY_SECS" -v r="$ps_rss" -v n="$N" 'BEGIN {printf "phonesim: %.1f %% of one core, VmRSS %d KiB (%.1f KiB per phone)\n", 100 * t / hz / s, r, r / n}'
echo "load average during the window: $steady_load"
echo "crossbar VmRSS after the storm: $rss2 KiB (load $storm_load)"

echo
echo "## calls ($CALL_PHONES phones, $CALL_RATE calls/s for ${CALL_SECS}s, first half -> second half, talk ${CALL_HOLD}s)"
c0=$(ticks "$gw")
"$phonesim" --server "127.0.0.1:$SCCP_PORT" --phones "$CALL_PHONES" --mac-base 0004f2100000 --model cisco-7970 \
    --ext-base 300000 --calls-per-sec "$CALL_RATE" --call-target peers --call-secs "$CALL_HOLD" \
    --duration "$CALL_SECS" --report-secs 5 > "$work/calls.log" 2>&1 || true
c1=$(ticks "$gw")
grep '^registered \|^final\|^calls not placed' "$work/calls.log" || tail -5 "$work/calls.log"
awk -v t="$((c1 - c0))" -v hz="$hz" 'BEGIN {printf "crossbar CPU during the calls step (registration, calls, RTP relay, unregistration): %.2f s\n", t / hz}'
echo "load average: $(load)"
grep -ci 'error\|panic' "$work/crossbar.log" | sed 's/^/crossbar log lines with error or panic: /' || true
