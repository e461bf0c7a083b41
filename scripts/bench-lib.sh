# Shared by the phone benchmarks (bench-sccp.sh, bench-unistim.sh, bench-setup.sh) and bench-sip-ab.sh;
# source it after setting BENCH to the script's name: a temp dir $work, the PIDs in `pids` stopped on exit
# (KEEP=1 keeps $work), and readings of /proc.
work=$(mktemp -d "/tmp/$BENCH.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    [[ ${KEEP:-0} == 1 ]] && echo "$BENCH: kept $work" || rm -rf "$work"
}
trap cleanup EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
