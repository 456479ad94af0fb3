#!/usr/bin/env bash
# The tools suite: Debian's redis-cli (a scripted session with exact replies, `--pipe` bulk
# load) and redis-benchmark smoke runs, against the first server in LATCHKEY_ADDRS. Every step
# is bounded by `timeout`; each prints one `compat-result:` line for the runner.
set -uo pipefail
addr=${LATCHKEY_ADDRS%%,*}
host=${addr%:*}
port=${addr##*:}
passed=0 failed=0 skipped=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cli() { timeout 30 redis-cli -h "$host" -p "$port" "$@"; }

# result LIBRARY NAME STATUS [REASON]
result() {
    case $3 in
        passed) passed=$((passed + 1)); echo "compat-result: passed [$1] $2" ;;
        skipped) skipped=$((skipped + 1)); echo "compat-result: skipped [$1] $2 :: $4" ;;
        *) failed=$((failed + 1)); echo "compat-result: failed [$1] $2" ;;
    esac
}

# requires CMD...: prints the skip reason and fails when the server lacks one of them.
requires() {
    local missing=()
    for command in "$@"; do
        [[ $(cli COMMAND INFO "$command" | head -c 1) == "" ]] && missing+=("$command")
    done
    if ((${#missing[@]})); then
        echo "requires ${missing[*]} (not in the server's COMMAND INFO)"
        return 1
    fi
}

# check LIBRARY NAME EXPECTED_FILE ACTUAL_FILE
check() {
    if diff -u "$3" "$4" > "$work/diff"; then
        result "$1" "$2" passed
    else
        cat "$work/diff"
        result "$1" "$2" failed
    fi
}

if ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null; then
    result redis-cli "redis-tools installed" failed
    echo "tools suite: $passed passed, $failed failed, $skipped skipped"
    exit 1
fi

# --- redis-cli: a scripted session, replies exactly as redis-cli prints them ----------------
cat > "$work/session" <<'CMDS'
PING
SET lock:cli tok NX PX 30000
SET lock:cli other NX PX 30000
GET lock:cli
PEXPIRE lock:cli 60000
TYPE lock:cli
DEL lock:cli
GET lock:cli
INCR fence:cli
INCR fence:cli
MSET a 1 b 2
MGET a b missing
ECHO "hello world"
SELECT 1
DBSIZE
CMDS
cli < "$work/session" > "$work/actual" 2>&1
printf '%s\n' PONG OK '' tok 1 string 1 '' 1 2 OK 1 2 '' 'hello world' OK 0 > "$work/expected"
check redis-cli "scripted session (RESP2)" "$work/expected" "$work/actual"

if reason=$(requires delifeq delex); then
    printf '%s\n' 'SET lock:cli2 tok NX PX 30000' 'DELIFEQ lock:cli2 other' \
        'DELIFEQ lock:cli2 tok' 'SET lock:cli2 tok2 NX PX 30000' 'DELEX lock:cli2 IFEQ tok2' \
        > "$work/session2"
    cli < "$work/session2" > "$work/actual2" 2>&1
    printf '%s\n' OK 0 1 OK 1 > "$work/expected2"
    check redis-cli "compare-and-delete session" "$work/expected2" "$work/actual2"
else
    result redis-cli "compare-and-delete session" skipped "$reason"
fi

{ cli -3 SET lock:resp3 tok NX PX 30000; cli -3 GET lock:resp3; cli -3 GET lock:none; } \
    > "$work/actual3" 2>&1
printf '%s\n' OK tok '' > "$work/expected3"
check redis-cli "RESP3 connection (-3)" "$work/expected3" "$work/actual3"

if reason=$(requires eval evalsha script); then
    release='if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end'
    {
        cli SET lock:eval tok NX PX 30000
        cli EVAL "$release" 1 lock:eval other
        sha=$(cli SCRIPT LOAD "$release")
        cli EVALSHA "$sha" 1 lock:eval tok
        cli EVALSHA ffffffffffffffffffffffffffffffffffffffff 0
    } > "$work/actual4" 2>&1
    printf '%s\n' OK 0 1 'NOSCRIPT No matching script. Please use EVAL.' '' > "$work/expected4"
    check redis-cli "EVAL, SCRIPT LOAD, EVALSHA, NOSCRIPT" "$work/expected4" "$work/actual4"
else
    result redis-cli "EVAL, SCRIPT LOAD, EVALSHA, NOSCRIPT" skipped "$reason"
fi

# --- redis-cli --pipe: a bulk load in raw protocol ------------------------------------------
cli SELECT 0 >/dev/null
python3 - "$work/bulk" <<'PY'
import sys
with open(sys.argv[1], "wb") as out:
    for i in range(20000):
        key, value = f"bulk:{i}".encode(), f"token-{i}".encode()
        out.write(b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nPX\r\n$6\r\n600000\r\n"
                  % (len(key), key, len(value), value))
PY
timeout 60 redis-cli -h "$host" -p "$port" --pipe < "$work/bulk" > "$work/pipe" 2>&1
if grep -q "errors: 0, replies: 20000" "$work/pipe" && [[ $(cli GET bulk:19999) == token-19999 ]] \
    && (($(cli DBSIZE) >= 20000)); then
    result redis-cli "--pipe bulk load of 20000 SET PX" passed
else
    cat "$work/pipe"
    result redis-cli "--pipe bulk load of 20000 SET PX" failed
fi

# --- redis-benchmark smoke runs ---------------------------------------------------------------
bench() {
    local name=$1
    shift
    if timeout 120 redis-benchmark -h "$host" -p "$port" -q "$@" > "$work/bench" 2>&1 &&
        grep -q "requests per second" "$work/bench" && ! grep -qi "error" "$work/bench"; then
        tr '\r' '\n' < "$work/bench" | grep "requests per second"
        result redis-benchmark "$name" passed
    else
        tr '\r' '\n' < "$work/bench" | tail -5
        result redis-benchmark "$name" failed
    fi
}
bench "-t set,get" -n 5000 -c 10 -t set,get
bench "-t set,get pipelined (-P 16)" -n 20000 -c 10 -P 16 -t set,get
bench "SET lock:__rand_int__ tok NX PX 30000" -n 5000 -c 10 -r 100000 \
    SET lock:__rand_int__ tok NX PX 30000
if reason=$(requires evalsha script); then
    sha=$(cli SCRIPT LOAD 'if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end')
    bench "EVALSHA compare-delete" -n 5000 -c 10 -r 100000 EVALSHA "$sha" 1 lock:__rand_int__ tok
else
    result redis-benchmark "EVALSHA compare-delete" skipped "$reason"
fi

echo "tools suite: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
