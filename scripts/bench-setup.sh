#!/usr/bin/env bash
# Call-setup latency Crossbar adds, phone -> SIP (BENCHMARKS.md, issue 5), release builds, loopback only.
#
#   a fresh gateway with PHONES simulated Cisco 7970s (phonesim) and one SIP user, 299999, registered by sipp
#   (register_contact.xml) with its contact on a sipp UAS (sccp_uas_echo.xml: 180, 200 with SDP, echoes
#   RTP, takes the BYE); the phones call 299999 at RATE calls/s for SECS s, HOLD s of talk each, RTP both ways
#   through the relay. tcpdump records the SCCP streams and the datagrams to and from the sipp UAS, and
#   scripts/setup-latency.py reads the capture: last digit -> INVITE to sipp, plus sipp's 180 -> RingOut to
#   the phone, by the kernel's capture timestamps (so neither phonesim's nor sipp's scheduling is counted);
#   phonesim's own end-to-end view (last digit -> ringback, sipp included) is printed beside it.
#
# Usage: scripts/bench-setup.sh              (about 1 minute plus the release build)
# Environment: PHONES (1000), RATE (200), SECS (20), HOLD (2), NO_BUILD=1, KEEP=1 (keep the temp dir), CROSSBAR (binary),
#   SCCP_PORT (2700), SIP_PORT (5700), PEER_PORT (5780).
# Needs sipp, tcpdump, tshark and python3. Every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PHONES=${PHONES:-1000}
RATE=${RATE:-200}
SECS=${SECS:-20}
HOLD=${HOLD:-2}
SCCP_PORT=${SCCP_PORT:-2700}
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

work=$(mktemp -d /tmp/bench-setup.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    [[ ${KEEP:-0} == 1 ]] && echo "bench-setup: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

cat > "$work/crossbar.toml" << EOF
[store]
url = "sqlite://$work/crossbar.db"

[sip]
listen = ["udp:127.0.0.1:$SIP_PORT"]
default_domain = "bench.example.com"

[sccp]
listen = "127.0.0.1:$SCCP_PORT"
EOF
"$phonesim" --phones "$PHONES" --mac-base 0004f2200000 --model cisco-7970 --ext-base 400000 --print-csv |
    awk 'NR == 1 {print $0 ",password"; next} {print $0 ","} END {print "299999,,,,peer-secret"}' > "$work/fleet.csv"
"$crossbar" import "$work/fleet.csv" --config "$work/crossbar.toml" > "$work/import.log"
CROSSBAR_LOG=warn "$crossbar" serve --config "$work/crossbar.toml" > "$work/crossbar.log" 2>&1 &
gw=$!
pids+=("$gw")
for _ in $(seq 100); do [[ -n $(ss -Htln "sport = :$SCCP_PORT") ]] && break; sleep 0.1; done
sleep 1

printf 'SEQUENTIAL\n299999;bench.example.com;[authentication username=299999 password=peer-secret]\n' > "$work/peer.csv"
sipp "127.0.0.1:$SIP_PORT" -sf tests/sipp/register_contact.xml -inf "$work/peer.csv" -key contact_port "$PEER_PORT" \
    -i 127.0.0.1 -p $((PEER_PORT + 1)) -m 1 -nostdin -timeout 10 > "$work/reg.log" 2>&1 ||
    { echo "bench-setup: sipp could not register 299999" >&2; cat "$work/reg.log" >&2; exit 1; }
sipp -sf tests/sipp/sccp_uas_echo.xml -i 127.0.0.1 -p "$PEER_PORT" -mp $((PEER_PORT + 100)) -rtp_echo \
    -nostdin > "$work/uas.log" 2>&1 &
pids+=("$!")
tcpdump -i lo -B 65536 -s 0 -w "$work/setup.pcap" "tcp port $SCCP_PORT or udp port $PEER_PORT or udp port $SIP_PORT" 2> "$work/tcpdump.log" &
td=$!
pids+=("$td")
sleep 1

echo "bench-setup: $(date -u +%FT%TZ), $(nproc) cores, $PHONES phones -> SIP user 299999 (sipp) at $RATE calls/s for ${SECS}s, talk ${HOLD}s, load $(load)"
c0=$(ticks "$gw")
"$phonesim" --server "127.0.0.1:$SCCP_PORT" --phones "$PHONES" --mac-base 0004f2200000 --model cisco-7970 \
    --ext-base 400000 --source-ips 127.0.0.2-127.0.0.9 --calls-per-sec "$RATE" --call-target 299999 \
    --call-secs "$HOLD" --duration "$SECS" --report-secs 5 > "$work/calls.log" 2>&1 || true
c1=$(ticks "$gw")
after=$(load)
sleep 1
kill -INT "$td"
wait "$td" 2> /dev/null || true
grep '^registered \|^final\|^calls not placed' "$work/calls.log" || tail -5 "$work/calls.log"
awk -v t="$((c1 - c0))" -v hz="$hz" 'BEGIN {printf "crossbar CPU during the calls (registration, calls, RTP relay, unregistration): %.2f s\n", t / hz}'
echo "load average after the calls: $after"
grep 'packets' "$work/tcpdump.log" || true
python3 scripts/setup-latency.py "$work/setup.pcap" --sip-peer "$PEER_PORT" --crossbar "$crossbar"
