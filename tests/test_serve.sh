#!/usr/bin/env bash
# test_serve.sh: `vae serve` over real sockets: start-up errors, the API against the CLI, and malformed or
# hostile HTTP while other clients keep being served.
#
# A tiny VAE (784-32-2, 600 MNIST training images, 1 epoch) served on a free port with --timeout 2:
#   1. usage: no --model, a missing checkpoint, --compare with another latent size, a --host that names
#      no address: exit 2 naming the cause; a port already taken: exit 1;
#   2. /api/decode's PNG is byte for byte `vae decode --scale 1`'s; /api/encode of test image 0 sent as grey
#      bytes gives `vae encode`'s mu (within 1e-5); /api/points holds the test images' labels; a Host header
#      that does not name the loopback (DNS rebinding) gets 421;
#   3. malformed HTTP: a garbage request line, a header without a colon, an unknown method, a declared
#      1 GB body (413 before it is sent), a 20 KB URI (414), 100 KB of headers: each gets a 4xx (or its
#      connection closed) and the next normal request is answered;
#   4. while an endless chunked body streams in, 20 slow-loris connections dribble header bytes and 50 idle
#      connections sit open, 4 keep-alive clients make 200 decode requests: all 200, none slower than 1 s;
#      the idle connections are closed after the 2-second timeout; the endless body, ended at last, gets 413;
#   5. SIGTERM: exit 143 within 5 seconds.
# Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
need_vae
need_mnist

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_serve.XXXXXX")"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

subset "$ROOT/data/mnist" "$tmp/data" 600 50
for latent in 2 3; do
    "$VAE" train --data "$tmp/data" --out "$tmp/z$latent" --hidden 32 --latent "$latent" --epochs 1 --threads 1 \
        >/dev/null 2>"$tmp/err" || { fail "vae train: $(tail -n 1 "$tmp/err")"; finish; }
done
model="$tmp/z2/model.safetensors"

# start ARGS...: vae serve ARGS --port 0 in the background; sets pid and url (empty if it did not start)
start() {
    "$VAE" serve "$@" >"$tmp/out" 2>"$tmp/serve-err" &
    pid=$!
    pids+=("$pid")
    url=""
    for _ in $(seq 100); do
        url="$(sed -n 's/^vae serve: \(http:[^ ]*\) .*/\1/p' "$tmp/out")"
        [ -n "$url" ] && return
        kill -0 "$pid" 2>/dev/null || return
        sleep 0.1
    done
}

# ---- 1. usage
# refused WANT_STATUS WANT_TEXT ARGS...: vae serve ARGS exits WANT_STATUS with WANT_TEXT on stderr
refused() {
    local want="$1" text="$2" rc
    shift 2
    "$VAE" serve "$@" >/dev/null 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq "$want" ] && grep -q -- "$text" "$tmp/err" && return 0
    echo "vae serve $*: exit $rc, stderr: $(cat "$tmp/err")" >&2
    return 1
}
check "no --model: exit 2" refused 2 "--model is required" --port 0
check "a missing checkpoint: exit 2 naming it" refused 2 none.safetensors --model "$tmp/none.safetensors" --port 0
check "--compare of another latent size: exit 2" refused 2 "cannot share one pad" --model "$model" \
    --compare "$tmp/z3/model.safetensors" --port 0
check "a --host that names no address: exit 2" refused 2 "--host no.such.host.invalid" --model "$model" \
    --host no.such.host.invalid --port 0

start --model "$model" --data "$tmp/data" --port 0 --timeout 2
check "vae serve prints its URL ($(cat "$tmp/serve-err"))" [ -n "$url" ]
[ -n "$url" ] || finish
port="${url##*:}"
port="${port%/}"
check "a port already taken: exit 1" refused 1 "cannot listen" --model "$model" --port "$port"

# ---- 2-4. the API against the CLI, malformed HTTP, slow and idle clients (Python's sockets)
"$VAE" decode --model "$model" --z "0.5,-1.25" --scale 1 --out "$tmp/decode.png" 2>"$tmp/err" || fail "vae decode: $(cat "$tmp/err")"
"$VAE" encode --model "$model" --data "$tmp/data" --n 1 --out "$tmp/encode.csv" 2>"$tmp/err" || fail "vae encode: $(cat "$tmp/err")"
python3 - "$port" "$tmp" >"$tmp/py" 2>&1 <<'EOF'
import http.client, json, socket, sys, threading, time
port, tmp = int(sys.argv[1]), sys.argv[2]

def check(what, cond):
    print(("ok " if cond else "FAIL: ") + what, flush=True)

def get(path, method="GET", body=None, headers={}, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    if not conn: c.close()
    return r.status, r.getheader("Content-Type"), data

def raw(payload, wait=3):
    """Send raw bytes, return what comes back until the server closes or `wait` seconds pass."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    got = b""
    try:
        s.sendall(payload)
        while True:
            b = s.recv(65536)
            if not b: break
            got += b
            if b"\r\n\r\n" in got and (b"Content-Length: " not in got or got.endswith(b"}")): break
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    return got

def served():
    st, _, _ = get("/api/info")
    return st == 200

# 2. the API against the CLI
st, ct, png = get("/api/decode?z=0.5,-1.25")
check("decode: 200 image/png", st == 200 and ct == "image/png")
check("decode: the PNG is vae decode --scale 1's, byte for byte", png == open(tmp + "/decode.png", "rb").read())
row = open(tmp + "/encode.csv").read().splitlines()[1].split(",")
mu_cli = [float(v) for v in row[2:4]]
img = open(tmp + "/data/t10k-images-idx3-ubyte", "rb").read()[16:16 + 784]
st, _, body = get("/api/encode", "POST", img, {"Content-Type": "application/octet-stream"})
mu = json.loads(body)["mu"] if st == 200 else None
check("encode of test image 0: vae encode's mu (%s vs %s)" % (mu, mu_cli),
      mu is not None and all(abs(a - b) <= 1e-5 * (1 + abs(b)) for a, b in zip(mu, mu_cli)))
st, _, body = get("/api/points")
labels = json.loads(body)["labels"]
want = list(open(tmp + "/data/t10k-labels-idx1-ubyte", "rb").read()[8:])
check("points: the 50 test labels", st == 200 and labels == want)

# a Host that is not this machine's loopback name (DNS rebinding) is refused
st, _, _ = get("/api/info", headers={"Host": "rebound.example:%d" % port})
st2, _, _ = get("/api/info", headers={"Host": "localhost:%d" % port})
check("Host rebound.example: 421, Host localhost: 200 (%d, %d)" % (st, st2), st == 421 and st2 == 200)

# 3. malformed HTTP: a 4xx or a closed connection, and the server goes on
cases = [("a garbage request line", b"HELLO\r\n\r\n"),
         ("a header without a colon", b"GET /api/info HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"),
         ("an unknown method", b"BREW /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
         ("a declared 1 GB body", b"POST /api/encode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\nxx"),
         ("a 20 KB URI", b"GET /api/decode?z=" + b"1," * 10000 + b"1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
         ("100 KB of headers", b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: " + b"a" * 100000 + b"\r\n\r\n"),
         ("a bad chunk size", b"POST /api/encode HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")]
for what, payload in cases:
    got = raw(payload)
    status = got.split(b" ", 2)[1] if got.startswith(b"HTTP/1.") else b"(closed)"
    check("%s: %s, then the server answers" % (what, status.decode()),
          (status == b"(closed)" or status.startswith(b"4")) and served())
got = raw(b"BREW /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
check("an unknown method gets a JSON 405", b" 405 " in got and b'"error"' in got)
got = raw(b"POST /api/encode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n", 2)
check("a declared 1 GB body gets 413 before it is sent", b" 413 " in got)

# 4. hostile clients while others are served
stop = threading.Event()
endless_result = []
def endless():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /api/encode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b"\0" * 65536 + b"\r\n"
    try:
        while not stop.is_set():  # 6.4 MB/s: still streaming while the clients run, under the 64 MiB cut
            s.sendall(chunk)
            time.sleep(0.01)
        s.sendall(b"0\r\n\r\n")
        endless_result.append(s.recv(4096))
    except (OSError, socket.timeout):
        endless_result.append(b"(closed)")
    s.close()
def loris(sock):
    for b in b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
        if stop.is_set(): return
        try: sock.send(bytes([b]))
        except OSError: return
        time.sleep(0.5)
slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
threads = [threading.Thread(target=endless)] + [threading.Thread(target=loris, args=(s,)) for s in slow]
for t in threads: t.start()
times, errors = [], []
def client(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for i in range(50):
        t0 = time.monotonic()
        try:
            st, ct, _ = get("/api/decode?z=%g,%g" % (k - 1.5, i / 25 - 1), conn=c)
            if st != 200: errors.append(st)
        except Exception as e:
            errors.append(repr(e))
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        times.append(time.monotonic() - t0)
clients = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in clients: t.start()
for t in clients: t.join()
check("200 decodes by 4 clients beside an endless body, 20 slow and 50 idle connections: all 200 (%s)" % errors[:3],
      not errors and len(times) == 200)
check("none slower than 1 s (slowest %.3f s)" % max(times), max(times) < 1)
time.sleep(3.5)  # past --timeout 2
closed = 0
for s in idle:
    s.settimeout(0.5)
    try:
        closed += s.recv(1) == b""
    except (socket.timeout, OSError):
        pass
    s.close()
check("the idle connections are closed after the timeout (%d of 50)" % closed, closed == 50)
stop.set()
for t in threads: t.join(15)
r = endless_result[0] if endless_result else b"(closed)"
check("the endless body, ended at last, gets a 413 (%r)" % r[:40], b" 413 " in r)
for s in slow: s.close()
check("the server still answers", served())
EOF
while IFS= read -r line; do
    case "$line" in
    ok\ *) ok ;;
    FAIL:*) fail "${line#FAIL: }" ;;
    *) echo "$line" >&2 ;;
    esac
done <"$tmp/py"
[ -n "${SERVE_TEST_LOG:-}" ] && cp "$tmp/py" "$SERVE_TEST_LOG"
check "the Python checks ran to their end" grep -q "^ok the server still answers\|^FAIL: the server still answers" "$tmp/py"

# ---- 5. SIGTERM
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    fail "the server still runs 5 s after SIGTERM"
    kill -9 "$pid"
fi
wait "$pid"
rc=$?
check "SIGTERM stops the server with exit status 143 (got $rc)" [ "$rc" -eq 143 ]
finish
