#!/usr/bin/env bash
# bench/serve.sh: decode latency of `vae serve` under load, on 127.0.0.1 only.
#
#   bench/serve.sh [MODEL]     (make all build/bench/serve_load first)
#
# Serves MODEL (default: a 784-400-20 VAE trained here for 1 epoch on MNIST into runs/bench-serve/, the
# PyTorch example's network; decode time does not depend on training) on a free loopback port, runs
# build/bench/serve_load with 4 keep-alive clients and 2,000 GET /api/decode requests of random z ~ N(0, I),
# prints its JSON line (errors, median, p90, p99, max in ms, requests per second), then the same with one
# client (the latency without clients queueing behind each other), and stops the server.
# The server decodes with 1 thread (its default); the clients and the server share the machine's cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
vae="${VAE:-build/vae}"
load=build/bench/serve_load
[ -x "$vae" ] && [ -x "$load" ] || { echo "bench/serve.sh: run make all $load first" >&2; exit 1; }
model="${1:-}"
if [ -z "$model" ]; then
    model=runs/bench-serve/model.safetensors
    if [ ! -f "$model" ]; then
        echo "bench/serve.sh: training a 784-400-20 VAE for 1 epoch into runs/bench-serve" >&2
        "$vae" train --data data/mnist --out runs/bench-serve --latent 20 --epochs 1 --force >/dev/null
    fi
fi
latent="$(python3 -c 'import json,struct,sys; b=open(sys.argv[1],"rb").read(); h=json.loads(b[8:8+struct.unpack("<Q",b[:8])[0]]); print(h["__metadata__"]["latent"])' "$model" 2>/dev/null || echo 20)"

out="$(mktemp)"
"$vae" serve --model "$model" --port 0 --host 127.0.0.1 >"$out" &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -f "$out"' EXIT
url=""
for _ in $(seq 100); do
    url="$(sed -n 's/^vae serve: \(http:[^ ]*\) .*/\1/p' "$out")"
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "bench/serve.sh: the server did not start" >&2; exit 1; }
port="${url##*:}"
port="${port%/}"
echo "bench/serve.sh: $model (latent $latent) at $url; 4 clients, then 1, 2000 decode requests each time" >&2
"$load" "$port" "$latent" 4 2000 1
"$load" "$port" "$latent" 1 2000 2
