#!/usr/bin/env bash
# Call-setup latency Crossbar adds, phone -> SIP (BENCHMARKS.md, issues 5 and 7), release builds, loopback only.
#
#   a fresh gateway with PHONES simulated Cisco 7970s (phonesim; PROTOCOL=unistim: Avaya 1140Es) and one SIP user, 299999, registered by sipp
#   (register_contact.xml) with its contact on a sipp UAS (sccp_uas_echo.xml: 180, 200 with SDP, echoes
#   RTP, takes the BYE); the phones call 299999 at RATE calls/s for SECS s, HOLD s of talk each, RTP both ways
#   through the relay. tcpdump records the SCCP streams (UNIStim datagrams) and the datagrams to and from the sipp UAS, and
#   scripts/setup-latency.py reads the capture: last digit -> INVITE to sipp, plus sipp's 180 -> RingOut
#   (UNIStim: the ring-back tone or the audio stream) to the phone, by the kernel's capture timestamps (so neither phonesim's nor sipp's scheduling is counted);
#   phonesim's own end-to-end view (last digit -> ringback, sipp included) is printed beside it.
#
# Usage: scripts/bench-setup.sh              (about 1 minute plus the release build)
# Environment: PHONES (1000), RATE (200), SECS (20), HOLD (2), NO_BUILD=1, KEEP=1 (keep the temp dir), CROSSBAR (binary),
#   PROTOCOL (sccp or unistim), SCCP_PORT (2700), UNISTIM_PORT (5750), SIP_PORT (5700), PEER_PORT (5780),
#   WORST (list the N calls with the most added, with when they happened; 0), CROSSBAR_LOG (the gateway's log filter; warn).
# Needs sipp, tcpdump, tshark and python3. Every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PHONES=${PHONES:-1000}
RATE=${RATE:-200}
SECS=${SECS:-20}
HOLD=${HOLD:-2}
PROTOCOL=${PROTOCOL:-sccp}
# GEN_NICE: niceness of the load generators (phonesim, the sipp UAS, tcpdump); 0 runs them as equals.
gen="nice -n ${GEN_NICE:-0}"
SCCP_PORT=${SCCP_PORT:-2700}
UNISTIM_PORT=${UNISTIM_PORT:-5750}
SIP_PORT=${SIP_PORT:-5700}
PEER_PORT=${PEER_PORT:-5780}
for tool in sipp tcpdump tshark python3; do
    command -v "$tool" > /dev/null || { echo "bench-setup: $tool is needed" >&2; exit 1; }
done
if [[ ${NO_BUILD:-0} != 1 ]]; then
    cargo build --release -p gateway -p tests --bin crossbar --bin phonesim
fi
crossbar=${CROSSBAR:-$root/target/release/crossbar}
phonesim=$root/target/release/phonesim
ulimit -n "$(ulimit -Hn)"

BENCH=bench-setup
# shellcheck source=scripts/bench-lib.sh
source "$root/scripts/bench-lib.sh"

cat > "$work/crossbar.toml" << EOF
[store]
url = "sqlite://$work/crossbar.db"

[sip]
listen = ["udp:127.0.0.1:$SIP_PORT"]
default_domain = "bench.example.com"

[sccp]
listen = "127.0.0.1:$SCCP_PORT"

[unistim]
listen = "127.0.0.1:$UNISTIM_PORT"
EOF
case $PROTOCOL in
    sccp)
        fleet=(--model cisco-7970 --mac-base 0004f2200000 --ext-base 400000)
        server=127.0.0.1:$SCCP_PORT
        filter="tcp port $SCCP_PORT"
        ;;
    unistim)
        fleet=(--protocol unistim --model avaya-1140e --mac-base 001365200000 --ext-base 400000)
        server=127.0.0.1:$UNISTIM_PORT
        filter="udp port $UNISTIM_PORT"
        ;;
    *) echo "bench-setup: PROTOCOL is sccp or unistim" >&2; exit 1 ;;
esac
"$phonesim" "${fleet[@]}" --phones "$PHONES" --print-csv |
    awk 'NR == 1 {print $0 ",password"; next} {print $0 ","} END {print "299999,,,,peer-secret"}' > "$work/fleet.csv"
"$crossbar" import "$work/fleet.csv" --config "$work/crossbar.toml" > "$work/import.log"
CROSSBAR_LOG=${CROSSBAR_LOG:-warn} "$crossbar" serve --config "$work/crossbar.toml" > "$work/crossbar.log" 2>&1 &
gw=$!
pids+=("$gw")
for _ in $(seq 100); do [[ -n $(ss -Hln "sport = :$SIP_PORT") ]] && break; sleep 0.1; done
sleep 1

printf 'SEQUENTIAL\n299999;bench.example.com;[authentication username=299999 password=peer-secret]\n' > "$work/peer.csv"
sipp "127.0.0.1:$SIP_PORT" -sf tests/sipp/register_contact.xml -inf "$work/peer.csv" -key contact_port "$PEER_PORT" \
    -i 127.0.0.1 -p $((PEER_PORT + 1)) -m 1 -nostdin -timeout 10 > "$work/reg.log" 2>&1 ||
    { echo "bench-setup: sipp could not register 299999" >&2; cat "$work/reg.log" >&2; exit 1; }
$gen sipp -sf tests/sipp/sccp_uas_echo.xml -i 127.0.0.1 -p "$PEER_PORT" -mp $((PEER_PORT + 100)) -rtp_echo \
    -nostdin > "$work/uas.log" 2>&1 &
uas=$!
pids+=("$uas")
$gen tcpdump -i lo -B 65536 -s 0 -w "$work/setup.pcap" "$filter or udp port $PEER_PORT or udp port $SIP_PORT" 2> "$work/tcpdump.log" &
td=$!
pids+=("$td")
sleep 1

echo "bench-setup: $(date -u +%FT%TZ), $(nproc) cores, $PHONES $PROTOCOL phones -> SIP user 299999 (sipp) at $RATE calls/s for ${SECS}s, talk ${HOLD}s, load $(load)"
c0=$(ticks "$gw")
u0=$(ticks "$uas")
t_start=$(date +%s.%N)
rcvbuf() { awk '/^Udp:/ && ++n == 2 {print $6}' /proc/net/snmp; }
drops0=$(rcvbuf)
$gen "$phonesim" "${fleet[@]}" --server "$server" --phones "$PHONES" --source-ips 127.0.0.2-127.0.0.9 --calls-per-sec "$RATE" --call-target 299999 \
    --call-secs "$HOLD" --duration "$SECS" --report-secs 5 > "$work/calls.log" 2>&1 &
ps=$!
pids+=("$ps")
while kill -0 "$ps" 2> /dev/null; do p1=$(ticks "$ps" 2> /dev/null || echo "${p1:-0}"); sleep 0.5; done
wait "$ps" || true
c1=$(ticks "$gw")
u1=$(ticks "$uas")
t_end=$(date +%s.%N)
drops1=$(rcvbuf)
after=$(load)
sleep 1
kill -INT "$td"
wait "$td" 2> /dev/null || true
grep '^registered \|^final\|^calls not placed' "$work/calls.log" || tail -5 "$work/calls.log"
awk -v t="$((c1 - c0))" -v hz="$hz" -v w="$(awk -v a="$t_start" -v b="$t_end" 'BEGIN {print b - a}')" \
    'BEGIN {printf "crossbar CPU during the calls (registration, calls, RTP relay, unregistration): %.2f s in %.1f s (%.0f %% of one core)\n", t / hz, w, 100 * t / hz / w}'
awk -v p="$p1" -v u="$((u1 - u0))" -v hz="$hz" 'BEGIN {printf "load generators in the same window: phonesim %.2f s CPU (until its last sample), sipp UAS %.2f s\n", p / hz, u / hz}'
echo "load average after the calls: $after"
echo "UDP datagrams dropped at a full receive buffer, machine-wide (/proc/net/snmp RcvbufErrors): $((drops1 - drops0))"
grep 'packets' "$work/tcpdump.log" || true
python3 scripts/setup-latency.py "$work/setup.pcap" --sip-peer "$PEER_PORT" --crossbar "$crossbar" \
    --unistim-port "$UNISTIM_PORT" --fleet "$work/fleet.csv" --worst "${WORST:-0}"
