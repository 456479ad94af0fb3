#!/usr/bin/env bash
# The compatibility suite: installs the real client libraries into the project's own folders
# (a virtualenv under target/, node_modules/ under tests/compat/node/, Debian's redis-tools when
# redis-cli is missing), builds latchkey in release mode, installs latchkey's own Python package
# (python/) into that virtualenv and its npm package (js/) into node_modules, then runs every
# suite against fresh servers (tests/compat/runner.py). Arguments go to the runner, e.g.
# `--suite python`. When a container engine answers (`docker info`), the image is built and
# its server must answer PING.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

step() { printf '\n--- %s\n' "$*"; }

step "building latchkey (release)"
cargo build --release --quiet --bin latchkey

step "python libraries (target/compat-venv)"
venv=$root/target/compat-venv
requirements=tests/compat/python/requirements.txt
stamp=$venv/.requirements.sha1
want=$(sha1sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input --timeout 60 -r "$requirements"
    echo "$want" > "$stamp"
fi
# latchkey's own Python package, built from this checkout (maturin builds the binary with
# cargo, reusing target/release) and installed into the same venv: its tests in
# tests/compat/python/test_latchkey_package.py use the pytest fixture it registers.
step "python package (pip install ./python)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --timeout 60 --force-reinstall --no-deps ./python
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null |
    grep -Ei '^(redis|python-redis-lock|pottery|aioredlock|aioredis|pytest|latchkey) ' || true

step "node libraries (tests/compat/node/node_modules, npm ci)"
node_dir=tests/compat/node
stamp=$node_dir/node_modules/.package-lock.sha1
want=$(sha1sum "$node_dir/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
fi
node --version

step "redis-tools (redis-cli, redis-benchmark)"
if ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq redis-tools >/dev/null
    else
        echo "redis-cli is missing and cannot be installed here (needs root and apt-get)"
    fi
fi
redis-cli --version || true

step "container image (Dockerfile)"
# Built only where a container engine answers; a machine without one says so and goes on.
engine=
for candidate in docker podman; do
    if command -v "$candidate" >/dev/null && timeout 20 "$candidate" info >/dev/null 2>&1; then
        engine=$candidate
        break
    fi
done
if [[ -n $engine ]]; then
    timeout 1800 "$engine" build --quiet -t latchkey:compat .
    cid=$("$engine" run -d --rm -p 127.0.0.1::6379 latchkey:compat)
    port=$("$engine" port "$cid" 6379/tcp | head -n1 | sed 's/.*://')
    ok=
    for _ in $(seq 50); do
        if [[ $(redis-cli -p "$port" PING 2>/dev/null) == PONG ]]; then ok=1; break; fi
        sleep 0.2
    done
    "$engine" stop -t 5 "$cid" >/dev/null
    [[ -n $ok ]] || { echo "the image's server did not answer PING"; exit 1; }
    echo "image latchkey:compat built with $engine; its server answered PING"
else
    echo "container image: skipped (neither docker nor podman answers 'info' here)"
fi

step "running the suites"
exec python3 tests/compat/runner.py "$@"
