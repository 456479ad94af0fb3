#!/usr/bin/env bash
# latchkey vs redis-server, side by side on this machine, in one command:
#
#   bash benches/compare.sh
#
# Builds latchkey and latchkey-bench (crates/latchkey-bench) in release mode, starts latchkey and
# redis-server on loopback ports, runs every workload against both in alternation (ROUNDS
# rounds, the order of the two servers swapped each round so drift shows and cancels), and
# writes to $OUT: results.txt (one line per workload, server and round), table.md (ratios
# latchkey/redis) and chart.svg. The servers' logs and the generator's errors go to
# target/compare-logs. A workload a server cannot run is recorded as `status=unsupported`.
#
# Settings (environment): ROUNDS (3), DURATION seconds per throughput/cycle/contention workload
# (4), LOCKS for the memory workload (1000000), IDLE connections (10000), OUT (benches/results),
# LK_PORT / REDIS_PORT (17379 / 17380), BENCH_THREADS (generator threads; default every core),
# SECTIONS (`all`, or `persistence` for only the append-only file rows: both servers with
# `appendonly yes` and the same `appendfsync`, their files under target/compare-aof).
set -uo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECTIONS=${SECTIONS:-all}
DURATION=${DURATION:-4}
LOCKS=${LOCKS:-1000000}
IDLE=${IDLE:-10000}
OUT=${OUT:-benches/results}
LK_PORT=${LK_PORT:-17379}
REDIS_PORT=${REDIS_PORT:-17380}
STARTUP_PORT=${STARTUP_PORT:-17381}
CLIENTS=50

log() { echo "[compare] $*" >&2; }

if ! command -v redis-server >/dev/null; then
    log "redis-server missing: installing Debian's package"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null
    fi
fi
command -v redis-server >/dev/null || { log "no redis-server"; exit 1; }

# Idle connections need a descriptor each, in this shell (the generator) and both servers.
WANT_FDS=$((IDLE + 1024))
HARD_FDS=$(ulimit -Hn)
if [ "$HARD_FDS" != unlimited ] && [ "$HARD_FDS" -lt "$WANT_FDS" ]; then WANT_FDS=$HARD_FDS; fi
ulimit -n "$WANT_FDS" || log "cannot raise the descriptor limit to $WANT_FDS"
if [ "$(ulimit -n)" -lt $((IDLE + 64)) ]; then
    IDLE=$(( $(ulimit -n) - 64 ))
    log "descriptor limit $(ulimit -n): idle connections lowered to $IDLE"
fi
MAXCLIENTS=$((IDLE + 100))

log "building release binaries"
cargo build --release -p latchkey -p latchkey-bench >&2 || exit 1
LATCHKEY=target/release/latchkey
BENCH=target/release/latchkey-bench
BENCH_ARGS=()
[ -n "${BENCH_THREADS:-}" ] && BENCH_ARGS+=(--threads "$BENCH_THREADS")

mkdir -p "$OUT"
LOGS=target/compare-logs
mkdir -p "$LOGS"
RESULTS=$OUT/results.txt
{
    echo "# latchkey vs redis-server, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "# latchkey $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $(redis-server --version | cut -d' ' -f1-3)"
    echo "# $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); kernel $(uname -r)"
    echo "# rounds=$ROUNDS duration=${DURATION}s clients=$CLIENTS locks=$LOCKS idle=$IDLE"
} > "$RESULTS"

LK_PID=
REDIS_PID=
stop_servers() {
    for pid in $LK_PID $REDIS_PID; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    LK_PID=
    REDIS_PID=
}
trap stop_servers EXIT

wait_ready() { # port
    for _ in $(seq 1 200); do
        "$BENCH" -p "$1" run --name ready -c PING --clients 1 -n 1 >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    log "server on port $1 did not answer"
    return 1
}

start_servers() {
    stop_servers
    "$LATCHKEY" --port "$LK_PORT" --maxclients "$MAXCLIENTS" >"$LOGS/latchkey.log" 2>&1 &
    LK_PID=$!
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --maxclients "$MAXCLIENTS" >"$LOGS/redis.log" 2>&1 &
    REDIS_PID=$!
    wait_ready "$LK_PORT" && wait_ready "$REDIS_PORT"
}

# bench <server> <round> <generator arguments…>: one workload against one server.
bench() {
    local server=$1 round=$2 port pid
    shift 2
    if [ "$server" = latchkey ]; then port=$LK_PORT; pid=$LK_PID; else port=$REDIS_PORT; pid=$REDIS_PID; fi
    local args=()
    for arg in "$@"; do args+=("${arg//@PID@/$pid}"); done
    local line
    line=$("$BENCH" "${BENCH_ARGS[@]}" -p "$port" --label "$server" "${args[@]}" 2>>"$LOGS/bench-errors.log" | grep '^workload=')
    if [ -z "$line" ]; then
        line="workload=$(workload_name "${args[@]}") server=$server status=failed"
    fi
    echo "$line round=$round" | tee -a "$RESULTS" >&2
}

workload_name() { # the value after --name
    while [ $# -gt 0 ]; do
        if [ "$1" = --name ]; then echo "$2"; return; fi
        shift
    done
    echo unknown
}

# both <round> <generator arguments…>: the same workload on both servers, order by round.
both() {
    local round=$1
    shift
    for server in $(order "$round"); do bench "$server" "$round" "$@"; done
}
order() { if [ $(($1 % 2)) = 1 ]; then echo "latchkey redis"; else echo "redis latchkey"; fi; }
only() { bench "$@"; }

# start_servers_aof <fsync>: both servers logging every write to an append-only file on the
# same disk (fresh directories under target/), fsynced as <fsync> says.
AOF_DIR=target/compare-aof
start_servers_aof() {
    stop_servers
    rm -rf "$AOF_DIR" && mkdir -p "$AOF_DIR/latchkey" "$AOF_DIR/redis"
    "$LATCHKEY" --port "$LK_PORT" --maxclients "$MAXCLIENTS" --appendonly yes \
        --appendfsync "$1" --dir "$AOF_DIR/latchkey" >"$OUT/latchkey.log" 2>&1 &
    LK_PID=$!
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes \
        --appendfsync "$1" --aof-use-rdb-preamble no --dir "$AOF_DIR/redis" \
        --daemonize no --maxclients "$MAXCLIENTS" >"$OUT/redis.log" 2>&1 &
    REDIS_PID=$!
    wait_ready "$LK_PORT" && wait_ready "$REDIS_PORT"
}

RUN=(run --clients "$CLIENTS" -d "$DURATION")
for round in $(seq 1 "$ROUNDS"); do
    for fsync in everysec always; do
        log "round $round/$ROUNDS: append-only file, appendfsync $fsync"
        start_servers_aof "$fsync" || exit 1
        both "$round" "${RUN[@]}" --name "set_nx_px_p16_aof_$fsync" -P 16 -c "SET lock:__rand_int__ tok NX PX 30000"
        both "$round" cycle --clients "$CLIENTS" -d "$DURATION" --name "lock_cycle_evalsha_aof_$fsync" --release evalsha
        only latchkey "$round" cycle --clients "$CLIENTS" -d "$DURATION" --name "lock_cycle_delifeq_aof_$fsync" --release delifeq
    done
    stop_servers
    rm -rf "$AOF_DIR"
    [ "$SECTIONS" = persistence ] && continue
    log "round $round/$ROUNDS: throughput, lock cycles, contention"
    start_servers || exit 1
    both "$round" "${RUN[@]}" --name set_nx_px_p16 -P 16 -c "SET lock:__rand_int__ tok NX PX 30000"
    both "$round" "${RUN[@]}" --name get_p16 -P 16 -c "GET lock:__rand_int__"
    both "$round" "${RUN[@]}" --name evalsha_cmpdel_p16 -P 16 -c "EVALSHA __cmpdel_sha__ 1 lock:__rand_int__ tok"
    only latchkey "$round" "${RUN[@]}" --name delifeq_p16 -P 16 -c "DELIFEQ lock:__rand_int__ tok"
    both "$round" "${RUN[@]}" --name del_p16 -P 16 -c "DEL lock:__rand_int__"
    both "$round" "${RUN[@]}" --name set_nx_px_p1 -P 1 -c "SET lock:__rand_int__ tok NX PX 30000"
    both "$round" cycle --clients "$CLIENTS" -d "$DURATION" --name lock_cycle_evalsha --release evalsha
    only latchkey "$round" cycle --clients "$CLIENTS" -d "$DURATION" --name lock_cycle_delifeq --release delifeq
    for n in 2 16 64; do
        only latchkey "$round" contend -d "$DURATION" --contenders "$n" --name "contend${n}_wait" --mode wait
        # Each release sent with the next acquire, as a pipelining client would. Polling stays
        # unpipelined: a poller's own retry sent with its release retakes the lock every time.
        only latchkey "$round" contend -d "$DURATION" --contenders "$n" --name "contend${n}_wait_pipelined" --mode wait --pipeline-release
        for server in $(order "$round"); do
            release=evalsha; [ "$server" = latchkey ] && release=delifeq
            bench "$server" "$round" contend -d "$DURATION" --contenders "$n" --name "contend${n}_poll1ms" --mode poll --retry-ms 1 --release "$release"
        done
        only redis "$round" contend -d "$DURATION" --contenders "$n" --name "contend${n}_poll10ms" --mode poll --retry-ms 10 --release evalsha
    done
    log "round $round/$ROUNDS: memory for $LOCKS locks (fresh servers)"
    start_servers || exit 1
    both "$round" fill --name memory_1m --locks "$LOCKS" --pid @PID@
    log "round $round/$ROUNDS: $IDLE idle connections (fresh servers)"
    start_servers || exit 1
    both "$round" idle --name idle_10k -n "$IDLE" --pid @PID@
    stop_servers
    log "round $round/$ROUNDS: start-up time"
    for server in $(order "$round"); do
        if [ "$server" = latchkey ]; then
            cmd=("$LATCHKEY" --port "$STARTUP_PORT")
        else
            cmd=(redis-server --port "$STARTUP_PORT" --bind 127.0.0.1 --save '' --appendonly no)
        fi
        line=$("$BENCH" -p "$STARTUP_PORT" --label "$server" startup --name startup --runs 5 -- "${cmd[@]}" | grep '^workload=')
        echo "${line:-workload=startup server=$server status=failed} round=$round" | tee -a "$RESULTS" >&2
    done
done

"$BENCH" report --results "$RESULTS" --pairs benches/compare-pairs.txt \
    --markdown "$OUT/table.md" --svg "$OUT/chart.svg" || exit 1
log "wrote $RESULTS, $OUT/table.md, $OUT/chart.svg"
cat "$OUT/table.md"
