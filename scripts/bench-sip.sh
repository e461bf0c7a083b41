#!/usr/bin/env bash
# SIP registrar and stateful proxy, Crossbar and Kamailio 5.6 side by side (BENCHMARKS.md, issue 4).
#
# The same sipp scenarios are run against each server in turn, one server at a time, on the same UDP
# port of 127.0.0.1; every step starts only when the machine is idle (/proc/stat):
#   reg-closed     100,000 new users registering with digest auth (401, then 200), 200 outstanding
#   reg-RATE       open loop, REG_SECS seconds of re-registrations of those users at RATE registrations/s
#   call-RATE      record-routed calls (INVITE/100/180/200/ACK/BYE/200) through the proxy to a sipp UAS
# Per step: sipp's successful/failed calls and retransmissions, wall time, the server's CPU time during
# the step (utime+stime from /proc/PID/stat of the server and its child processes, read before the step
# and 1 s after it), CPU per registration (2 transactions: the 401 and the 200) or per call, the CPU of
# the sipp processes, UDP receive-buffer drops, and the load average.
# Memory after the 100,000 registrations: VmRSS of crossbar; Kamailio: the PSS sum of its processes
# and its shared memory in use (kamcmd core.shmmem).
#
# Needs: cargo, sipp (Debian sip-tester), kamailio + kamcmd (Debian kamailio), /usr/bin/time.
# Usage: scripts/bench-sip.sh              full run (about 10 minutes)
#        QUICK=1 scripts/bench-sip.sh      smoke test: 2,000 users, low rates, short steps
# Environment: SERVERS="crossbar kamailio", N (users of reg-closed), REG_RATES, REG_SECS, CALL_RATES,
#   CALL_SECS, CALL_WARM (seconds of calls before each call step's measurement starts, default 0: with 40
#   the step measures steady state, after the first calls' transactions have ended; RFC 3261 keeps them
#   32 s, Kamailio's tm 5 s), SIP_PORT (default 5070; if it is taken the first free one of 5170, 5270, ... is used),
#   IDLE_PCT (default 90), IDLE_MAX (most seconds to wait for it, default 60), KEEP=1 keeps the temp dir,
#   STEP_GAP (seconds of quiet before each open-loop registration step and the calls, default 33: longer than 64*T1, so
#   transactions of the previous step have ended on both servers and every step starts from the same state).
# Only 127.0.0.1 is used. Every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=${SHARED:-$root/../shared/sip}
. scripts/bench-sip-lib.sh

if [[ ${QUICK:-0} == 1 ]]; then
    N=${N:-2000} REG_RATES=${REG_RATES:-500} REG_SECS=${REG_SECS:-3}
    CALL_RATES=${CALL_RATES:-"100 200"} CALL_SECS=${CALL_SECS:-3} IDLE_MAX=${IDLE_MAX:-15} STEP_GAP=${STEP_GAP:-0}
else
    N=${N:-100000} REG_RATES=${REG_RATES:-"5000 10000"} REG_SECS=${REG_SECS:-8} STEP_GAP=${STEP_GAP:-33}
    CALL_RATES=${CALL_RATES:-"500 1000 2000"} CALL_SECS=${CALL_SECS:-8} IDLE_MAX=${IDLE_MAX:-60}
fi
SERVERS=${SERVERS:-"crossbar kamailio"}
CALL_WARM=${CALL_WARM:-0}
IDLE_PCT=${IDLE_PCT:-90}
DOMAIN=bench.example.com
BUF=4194304
# sipp ports: registering UAC, call UAC, UAS, the UAS's registration
P_REG=5061 P_UAC=5060 P_UAS=5080 P_UASREG=5081

port_busy() { [[ -n $(ss -Huln "sport = :$1") ]]; }
if [[ -z ${SIP_PORT:-} ]]; then
    SIP_PORT=5070
    while port_busy "$SIP_PORT"; do
        echo "bench-sip: udp 127.0.0.1:$SIP_PORT is taken, trying $((SIP_PORT + 100))" >&2
        SIP_PORT=$((SIP_PORT + 100))
        ((SIP_PORT < 6000)) || { echo "bench-sip: no free SIP port" >&2; exit 1; }
    done
fi
for p in "$SIP_PORT" $P_REG $P_UAC $P_UAS $P_UASREG; do
    if port_busy "$p"; then echo "bench-sip: udp port $p is in use" >&2; exit 1; fi
done
for tool in sipp kamailio kamcmd /usr/bin/time ss pgrep; do
    command -v "$tool" > /dev/null || { echo "bench-sip: $tool not found" >&2; exit 1; }
done

work=$(mktemp -d /tmp/bench-sip.XXXXXX)
pids=()          # every background process started here, stopped by PID on exit
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
    if [[ ${KEEP:-0} == 1 ]]; then echo "bench-sip: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hz=$(getconf CLK_TCK)
results=$work/results.tsv
notes=$work/notes.txt
printf 'server\tstep\toffered\tok\tfailed\tretrans\tudp_drops\twall_s\trate_per_s\tsrv_cpu_s\tcpu_us_per_op\tsipp_cpu_s\tidle_pct\tload1\n' > "$results"
: > "$notes"
note() { echo "$*" | tee -a "$notes"; }

# ---- helpers ----
# utime+stime ticks of PID and its direct children (Kamailio's workers; crossbar's threads are in its own line)
cpu_ticks() {
    local p total=0 line
    for p in "$1" $(pgrep -P "$1" || true); do
        line=$(cat "/proc/$p/stat" 2> /dev/null) || continue
        line=${line##*) }
        total=$((total + $(awk '{print $12 + $13}' <<< "$line")))
    done
    echo "$total"
}
# PSS (kB) summed over PID and its direct children
pss_kb() {
    local p total=0 v
    for p in "$1" $(pgrep -P "$1" || true); do
        v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2> /dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
udp_rcvbuf_errors() { awk '/^Udp:/{ if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# Waits (at most IDLE_MAX s) until the CPUs were at least IDLE_PCT % idle over 3 s; sets $idle to the last figure.
wait_idle() {
    local a b i
    idle=0
    for ((i = 0; i < IDLE_MAX; i += 3)); do
        a=($(head -1 /proc/stat)); sleep 3; b=($(head -1 /proc/stat))
        idle=$(awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
            split(a, x, " "); split(b, y, " "); t = 0
            for (k = 2; k <= 9; k++) t += y[k] - x[k]
            printf "%d", t ? 100 * (y[5] - x[5] + y[6] - x[6]) / t : 0 }')
        ((idle >= IDLE_PCT)) && return 0
    done
    echo "bench-sip: machine still busy (${idle} % idle) after ${IDLE_MAX} s, going on" >&2
}
wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        port_busy "$SIP_PORT" && return 0
        sleep 0.1
    done
    echo "bench-sip: nothing listens on udp $SIP_PORT" >&2
    return 1
}

# run_step SERVER STEP OFFERED OPS LIMIT_S SIPP_ARGS... : one sipp run against the server, one results line.
# OPS: registrations or calls offered (for the CPU per operation, the successful count is used).
# With WARM=S and WARM_OPS=N in its environment, the server's CPU and the wall time are measured only after
# the first S seconds of the sipp run, and the first N operations (those of the warm-up) are not counted:
# steady state, once the transactions of the first calls have ended (sipp's CPU is still the whole run's).
run_step() {
    local server=$1 step=$2 offered=$3 limit=$5 warm=${WARM:-0} warm_ops=${WARM_OPS:-0}
    shift 5
    local dir=$work/$server-$step
    mkdir -p "$dir"
    wait_idle
    local l1 c0 c1 u0 u1 d0 d1 t0 t1 rc=0 sp
    l1=$(load1)
    u0=$( [[ -n ${uas_pid:-} ]] && cpu_ticks "$uas_pid" || echo 0)
    d0=$(udp_rcvbuf_errors)
    c0=$(cpu_ticks "$srv_pid")
    t0=$(date +%s.%N)
    (cd "$dir" && exec /usr/bin/time -f '%U %S' -o time.txt timeout -k 5 "$limit" \
        sipp "127.0.0.1:$SIP_PORT" "$@" -i 127.0.0.1 -nostdin -buff_size $BUF -recv_timeout 35000 \
        -trace_stat -stf stat.csv -fd 1 -trace_screen > sipp.out 2>&1) &
    sp=$!
    pids+=("$sp")
    if ((warm > 0)); then
        sleep "$warm"
        d0=$(udp_rcvbuf_errors)
        c0=$(cpu_ticks "$srv_pid")
        t0=$(date +%s.%N)
    fi
    wait "$sp" || rc=$?
    t1=$(date +%s.%N)
    sleep 1
    c1=$(cpu_ticks "$srv_pid")
    d1=$(udp_rcvbuf_errors)
    u1=$( [[ -n ${uas_pid:-} ]] && cpu_ticks "$uas_pid" || echo 0)
    local ok=0 failed=0 retrans=0
    if [[ -s $dir/stat.csv ]]; then
        read -r ok failed retrans < <(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
            { s = $h["SuccessfulCall(C)"]; f = $h["FailedCall(C)"]; r = $h["Retransmissions(C)"] }
            END { print s + 0, f + 0, r + 0 }' "$dir/stat.csv")
    fi
    local counted=$((ok - warm_ops))
    local sipp_cpu
    sipp_cpu=$(awk -v hz="$hz" -v u0="$u0" -v u1="$u1" \
        'END { printf "%.2f", $1 + $2 + (u1 - u0) / hz }' "$dir/time.txt" 2> /dev/null || echo "?")
    local row
    row=$(awk -v s="$server" -v st="$step" -v o="$offered" -v ok="$ok" -v f="$failed" -v r="$retrans" \
        -v dr=$((d1 - d0)) -v t0="$t0" -v t1="$t1" -v c=$((c1 - c0)) -v hz="$hz" -v sc="$sipp_cpu" \
        -v id="$idle" -v l="$l1" -v n="$counted" 'BEGIN { w = t1 - t0; cpu = c / hz
            printf "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.2f\t%.0f\t%.2f\t%s\t%s\t%s\t%s\n", s, st, o, ok, f, r, dr, w,
                n / w, cpu, (n > 0) ? sprintf("%.0f", cpu * 1e6 / n) : "-", sc, id, l }')
    echo "$row" >> "$results"
    echo "$row" | tr '\t' ' ' >&2
    if ((rc != 0)); then
        echo "bench-sip: $server $step: sipp exit $rc (0 = all calls ok; 124/137 = killed after ${limit} s)" >&2
    fi
}

uas_pid=
start_uas() {
    local dir=$work/$1-uas-$2
    mkdir -p "$dir"
    (cd "$dir" && exec timeout -k 5 "$3" sipp -sf "$shared/sipp/uas_rr.xml" -i 127.0.0.1 -p $P_UAS -nostdin \
        -buff_size $BUF -trace_stat -stf stat.csv -fd 1 > sipp.out 2>&1) &
    uas_pid=$!
    pids+=("$uas_pid")
    sleep 0.5
}
stop_uas() {
    [[ -n $uas_pid ]] || return 0
    kill "$uas_pid" 2> /dev/null || true
    wait "$uas_pid" 2> /dev/null || true
    uas_pid=
}
register_service() {
    local dir=$work/$1-reg-service
    mkdir -p "$dir"
    printf 'SEQUENTIAL\nservice;%s;[authentication username=service password=secret]\n' $DOMAIN > "$dir/uas.csv"
    (cd "$dir" && timeout -k 5 20 sipp "127.0.0.1:$SIP_PORT" -sf "$root/tests/sipp/register_contact.xml" \
        -inf uas.csv -key contact_port $P_UAS -i 127.0.0.1 -p $P_UASREG -m 1 -nostdin > sipp.out 2>&1) || {
        echo "bench-sip: $1: registering the UAS contact failed" >&2
        return 1
    }
}

# ---- inputs ----
# reg-closed registers users 1..N for the first time; the open-loop steps refresh them (a new Call-ID per
# registration, so every one is a new binding replacing the old), so the store holds exactly N users and the
# memory figure is the one of N registered users.
reg_total=$N
sipp_users 1 "$N" "$DOMAIN" > "$work/reg-closed.csv"
sip_import_users "$reg_total" "$DOMAIN" > "$work/users.csv"

echo "bench-sip: building crossbar (release)" >&2
cargo build -q --release -p gateway
bin=$root/target/release/crossbar
note "bench-sip: $(date -u '+%F %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
" $(sipp -v 2> /dev/null | grep -o 'SIPp v[0-9.]*' | head -1), $(kamailio -v 2> /dev/null | head -1 | cut -d' ' -f1-3),"\
" crossbar $(git rev-parse --short HEAD), SIP port $SIP_PORT, N=$N"

# ---- servers ----
srv_pid=
start_crossbar() {
    local d=$work/crossbar
    mkdir -p "$d"
    sip_config "$d/bench.toml" "$d" "$SIP_PORT" "$DOMAIN"
    wait_idle
    /usr/bin/time -f '%e %U %S %M' -o "$d/import.time" "$bin" import "$work/users.csv" --config "$d/bench.toml" \
        > "$d/import.out" 2>&1
    note "crossbar import of $((reg_total + 1)) users into a new SQLite store: $(awk '{printf "%.2f s wall, %.2f s CPU, max RSS %d MiB", $1, $2 + $3, $4 / 1024}' "$d/import.time") (load $(load1))"
    CROSSBAR_LOG=warn "$bin" serve --config "$d/bench.toml" 2> "$d/serve.log" &
    srv_pid=$!
    pids+=("$srv_pid")
    wait_port
}
start_kamailio() {
    local d=$work/kamailio
    mkdir -p "$d/run"
    sed "s/:5070\b/:$SIP_PORT/g" "$shared/kamailio/kamailio.cfg" > "$d/kamailio.cfg"
    (cd "$d" && exec kamailio -A WITH_AUTH -f kamailio.cfg -P run/kamailio.pid -w . -DD -E -m 1024 -M 16 \
        > kamailio.log 2>&1) &
    srv_pid=$!
    pids+=("$srv_pid")
    wait_port
    sleep 1
}
stop_server() {
    kill "$srv_pid" 2> /dev/null || true
    wait "$srv_pid" 2> /dev/null || true
    srv_pid=
}
memory_note() {
    local server=$1
    if [[ $server == crossbar ]]; then
        note "crossbar after reg-closed ($(tail -1 "$results" | cut -f4) of $N users registered): VmRSS $(($(rss_kb "$srv_pid") / 1024)) MiB (load $(load1))"
    else
        local shm
        shm=$(cd "$work/kamailio" && kamcmd -s unix:run/kamailio_ctl core.shmmem 2> /dev/null |
            awk '/real_used/ { printf "%.0f MiB", $2 / 1048576 }')
        note "kamailio after reg-closed ($(tail -1 "$results" | cut -f4) of $N users registered): PSS of $(( $(pgrep -P "$srv_pid" | wc -l) + 1 )) processes $(($(pss_kb "$srv_pid") / 1024)) MiB, shm real_used ${shm:-?} (load $(load1))"
    fi
    local c0 c1
    c0=$(cpu_ticks "$srv_pid"); sleep 10; c1=$(cpu_ticks "$srv_pid")
    note "$server idle for 10 s after reg-closed: $(awk -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.2f", c / hz }') s CPU (load $(load1))"
}

for server in $SERVERS; do
    echo "bench-sip: === $server ===" >&2
    "start_$server"
    run_step "$server" reg-closed "closed-200" "$N" 300 -sf "$root/tests/sipp/register_auth.xml" \
        -inf "$work/reg-closed.csv" -key expires 3600 -p $P_REG -m "$N" -r 50000 -l 200
    memory_note "$server"
    for r in $REG_RATES; do
        sleep "$STEP_GAP"
        run_step "$server" "reg-$r" "$r/s" $((r * REG_SECS)) $((REG_SECS + 60)) \
            -sf "$root/tests/sipp/register_auth.xml" -inf "$work/reg-closed.csv" -key expires 3600 -p $P_REG \
            -m $((r * REG_SECS)) -r "$r" -l 20000
    done
    sleep "$STEP_GAP"
    for r in $CALL_RATES; do
        start_uas "$server" "$r" $((CALL_WARM + CALL_SECS + 120))
        if ! register_service "$server"; then
            note "$server: the UAS contact could not be registered, call-$r skipped"
            stop_uas
            continue
        fi
        WARM=$CALL_WARM WARM_OPS=$((r * CALL_WARM)) \
            run_step "$server" "call-$r" "$r/s" $((r * CALL_SECS)) $((CALL_WARM + CALL_SECS + 60)) \
            -sf "$shared/sipp/uac_rr.xml" -s service -p $P_UAC -m $((r * (CALL_WARM + CALL_SECS))) -r "$r" -d 0 -l 20000 \
            -default_behaviors all,-abortunexp
        stop_uas
    done
    stop_server
done

echo
cat "$notes"
echo
column -t -s $'\t' "$results"
