#!/usr/bin/env bash
# Instructions the server executes per request, for two latchkey binaries side by side:
#
#   bash benches/instructions.sh OLD_BINARY NEW_BINARY
#
# Runs each binary under valgrind's callgrind (an exact instruction count, unlike throughput
# not moved by other load on the machine), sends N pipelined requests of each workload with
# latchkey-bench (50 clients, P=16), and prints instructions per request. Start-up and idle
# work are included and about equal for both, so compare the two, not the absolute values.
# Settings: N (200000). Needs valgrind and a release latchkey-bench.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# = 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
N=${N:-200000}
BENCH=target/release/latchkey-bench
[ -x "$BENCH" ] || cargo build --release --bin latchkey-bench >&2 || exit 1
OUT=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-instructions.XXXXXX")
free_port() { python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }
for label in old new; do
    if [ $label = old ]; then bin=$1; else bin=$2; fi
    for workload in set_nx_px evalsha_cmpdel; do
        port=$(free_port)
        valgrind --tool=callgrind --callgrind-out-file="$OUT/$label.$workload" "$bin" --port "$port" \
            >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 1 100); do
            "$BENCH" -p "$port" run --clients 1 -n 1 -c PING >/dev/null 2>&1 && break
            sleep 0.2
        done
        case $workload in
            set_nx_px) command="SET lock:__rand_int__ tok NX PX 30000" ;;
            evalsha_cmpdel) command="EVALSHA __cmpdel_sha__ 1 lock:__rand_int__ tok" ;;
        esac
        "$BENCH" -p "$port" run --clients 50 -n "$N" -P 16 -c "$command" >/dev/null 2>&1
        kill -INT $pid
        wait $pid 2>/dev/null
        total=$(grep -m1 '^summary:' "$OUT/$label.$workload" | awk '{print $2}')
        echo "workload=$workload server=$label instructions_per_request=$((total / N))"
    done
done
rm -rf "$OUT"
