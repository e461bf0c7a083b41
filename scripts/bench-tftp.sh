#!/usr/bin/env bash
# Provisioning boot storm (issue 8): N phones (default 5,000) fetch their boot files over TFTP at once, from
# Crossbar (rendering every device file per request from an inventory of N devices) and from tftp-hpa's
# in.tftpd (serving the same files pre-rendered, from a directory), one server at a time on 127.0.0.1;
# then HTTP configs per second rendered by Crossbar, measured with wrk.
#
# The fleet: 2/5 Cisco 7960 (CTLSEP<MAC>.tlv missing, SEP<MAC>.cnf.xml, RINGLIST.DAT), 1/5 Cisco 7961
# (CTLSEP, ITLSEP, ITLFile.tlv missing, SEP<MAC>.cnf.xml), 2/5 Avaya 1140E (SYSTEM.PRV, 1140E.PRV,
# <MAC>.PRV, 1140e.cfg): the boot sequences of shared/provisioning-examples/boot-sequences.tsv. Each phone
# has its own source address (127.1.x.y) and a new transfer ID per file; plain RFC 1350 (512-byte blocks),
# 1 s retransmission, 5 tries. The files in.tftpd serves are the ones Crossbar renders (fetched from its
# HTTP server before the storm), and every file either server sends is compared with them.
#
# Needs: cargo, in.tftpd (Debian tftpd-hpa), wrk (Debian wrk), ss.
# Usage: scripts/bench-tftp.sh            full run (about a minute after the build)
#        N=500 scripts/bench-tftp.sh      smaller fleet
#        PROFILE=dev N=100 scripts/bench-tftp.sh   smoke test on the debug build
# Environment: N, SERVERS="crossbar in.tftpd", WRK_SECS (default 10), WRK_CONNS (default 64), KEEP=1 keeps
#   the temp dir. Only 127.0.0.1 and 127.1.0.0/16 are used; every process started is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
SERVERS=${SERVERS:-"crossbar in.tftpd"}
WRK_SECS=${WRK_SECS:-10}
WRK_CONNS=${WRK_CONNS:-64}
for tool in /usr/sbin/in.tftpd wrk ss; do
    command -v "$tool" > /dev/null || { echo "bench-tftp: $tool not found" >&2; exit 1; }
done

PROFILE=${PROFILE:-release}
cargo build --profile "$PROFILE" -q -p gateway --bin crossbar
cargo build --profile "$PROFILE" -q -p tests --bin tftp-storm
dir=$PROFILE; [[ $PROFILE == dev ]] && dir=debug
crossbar=$PWD/target/$dir/crossbar
storm=$PWD/target/$dir/tftp-storm

work=$(mktemp -d /tmp/bench-tftp.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then echo "bench-tftp: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { # a port free for both UDP and TCP on 127.0.0.1, from $1 upwards
    local p=$1
    while [[ -n $(ss -Htuln "sport = :$p") ]]; do p=$((p + 1)); done
    echo "$p"
}
TFTP_PORT=$(free_port 6969)
HTTP_PORT=$(free_port 8180)
HPA_PORT=$(free_port $((TFTP_PORT + 1)))
SCCP_PORT=$(free_port 12000)
UNISTIM_PORT=$(free_port 15000)

mkdir -p "$work/root" "$work/prerendered"
printf 'Ring1.raw\tClassic\nRing2.raw\tChirp\n' > "$work/root/RINGLIST.DAT"
cat > "$work/crossbar.toml" <<TOML
[store]
url = "sqlite://$work/crossbar.db"
[sip]
listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
default_domain = "bench.example.com"
advertised_address = "127.0.0.1"
[sccp]
listen = "127.0.0.1:$SCCP_PORT"
[unistim]
listen = "127.0.0.1:$UNISTIM_PORT"
[tftp]
listen = "127.0.0.1:$TFTP_PORT"
root = "root"
[http]
listen = "127.0.0.1:$HTTP_PORT"
TOML
"$storm" fleet "$N" > "$work/fleet.csv"
"$crossbar" import "$work/fleet.csv" --config "$work/crossbar.toml" > /dev/null

CROSSBAR_LOG=warn "$crossbar" serve --config "$work/crossbar.toml" 2> "$work/crossbar.log" &
crossbar_pid=$!
pids+=("$crossbar_pid")
for _ in $(seq 100); do
    [[ -n $(ss -Htln "sport = :$HTTP_PORT") ]] && break
    sleep 0.1
done
"$storm" prerender "127.0.0.1:$HTTP_PORT" "$N" "$work/prerendered"
cp "$work/root/RINGLIST.DAT" "$work/prerendered/"
# The files were fetched from Crossbar's HTTP server (one process, not N runs of `crossbar render`);
# a sample is checked against `crossbar render MAC FILE` byte for byte.
for i in 0 1 2 3 4 $((N / 2)) $((N - 1)); do
    line=$(sed -n "$((i + 2))p" "$work/fleet.csv")
    mac=$(cut -d, -f3 <<< "$line")
    case $(cut -d, -f4 <<< "$line") in
    avaya-1140e) file="$mac.PRV" ;;
    *) file="SEP$mac.cnf.xml" ;;
    esac
    "$crossbar" render "$mac" "$file" --config "$work/crossbar.toml" > "$work/rendered.one"
    cmp -s "$work/rendered.one" "$work/prerendered/$file" \
        || { echo "bench-tftp: $file differs from crossbar render" >&2; exit 1; }
done
chmod -R a+rX "$work/prerendered"

echo "# bench-tftp $(date -u +%FT%TZ) N=$N $(nproc) cores; $(uptime | sed 's/.*load/load/')"
status=0
for server in $SERVERS; do
    case $server in
    crossbar)
        echo "crossbar (rendering per request, inventory of $N devices):"
        "$storm" boot "127.0.0.1:$TFTP_PORT" "$N" "$work/prerendered" || status=1
        ;;
    in.tftpd)
        /usr/sbin/in.tftpd --foreground --address "127.0.0.1:$HPA_PORT" --user tftp --secure "$work/prerendered" &
        hpa_pid=$!
        pids+=("$hpa_pid")
        sleep 0.5
        echo "in.tftpd (tftp-hpa, pre-rendered files):"
        "$storm" boot "127.0.0.1:$HPA_PORT" "$N" "$work/prerendered" || status=1
        kill "$hpa_pid" 2> /dev/null || true
        ;;
    esac
    echo "  $(uptime | sed 's/.*load/load/')"
done

if [[ " $SERVERS " == *" crossbar "* ]]; then
    cat > "$work/configs.lua" <<LUA
-- A random phone of the fleet per request: a Cisco SEP<MAC>.cnf.xml or an Avaya <MAC>.PRV, rendered.
math.randomseed(42)
request = function()
  local i = math.random(0, $N - 1)
  local path
  if i % 5 < 3 then
    path = string.format("/provision/SEP0004F2%06X.cnf.xml", i)
  else
    path = string.format("/provision/001BBA%06X.PRV", i)
  end
  return wrk.format("GET", path)
end
LUA
    echo "crossbar http, configs rendered per request (wrk -t2 -c$WRK_CONNS -d${WRK_SECS}s, keep-alive):"
    wrk -t2 -c"$WRK_CONNS" -d"${WRK_SECS}s" -s "$work/configs.lua" "http://127.0.0.1:$HTTP_PORT/" | sed 's/^/  /'
    echo "  $(uptime | sed 's/.*load/load/')"
fi
if grep -qiE 'error|panic' "$work/crossbar.log"; then
    echo "bench-tftp: crossbar logged errors:" >&2
    grep -iE 'error|panic' "$work/crossbar.log" | head -5 >&2
fi
exit $status
