#!/usr/bin/env bash
# bench/soak-kill.sh: SIGKILL soak test of the run folder's files (issue 13), not part of `make test`.
#
#   bench/soak-kill.sh [KILLS]        (default 200; VAE=build/vae, needs data/mnist and python3)
#
# KILLS times: pick one of train (a new run, --force), resume (--resume two more epochs), encode (CSV into
# the run folder), eval (--per-image CSV into the run folder) and export-c (into RUN/export) at random, start
# it, and SIGKILL it after a random delay within its measured duration (half of the runs with
# VAE_TEST_PAUSE_IN_WRITE set to a random 0..0.2 s, which holds every atomic write between its complete
# temporary file and the rename, so kills land inside writes too). Only kills that hit a live process count.
# After each kill every file of the run folder must be absent, the old file (same bytes as before the run),
# or a new complete file:
#   model.safetensors, train-state.safetensors  vae eval loads the model; the state parses as safetensors with
#                                               its tensors tiling the file
#   loss.png                                    every chunk's CRC and the zlib stream check out, IEND present
#   metrics.jsonl                               whole lines of strict JSON, epochs 1..N in order
#   codes.csv, per-image.csv                    header and every row present with the right column count
#   export/vae_decoder.h, .c                    both complete, and the pair from one export (VAE_DECODER_EXPORT_ID)
# Temporary files (NAME.tmp-PID-K) left by killed writes are counted, not errors: the next write of the
# same file removes them. Prints one line per 20 kills and a summary; exits 1 on any violation.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAE="${VAE:-$root/build/vae}"
kills_wanted="${1:-200}"
ROOT="$root"
. "$root/tests/shell-lib.bash"
need_vae
need_mnist
tmp="$(mktemp -d "${TMPDIR:-/tmp}/soak-kill.XXXXXX")"
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
D="$tmp/data"
subset "$root/data/mnist" "$D" 3000 500
R="$tmp/run"
TRAIN=(--data "$D" --out "$R" --hidden 64 --latent 4 --batch 100 --threads 1)

# the validator: python3 check.py RUN SNAPSHOT -> prints one line per violation
cat >"$tmp/check.py" <<'EOF'
import hashlib, json, os, re, struct, sys, zlib
run, snap = sys.argv[1], sys.argv[2]
old = dict(l.split() for l in open(snap)) if os.path.getsize(snap) else {}
def sha(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
def safetensors_ok(b):
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    ends = sorted(v["data_offsets"] for k, v in h.items() if k != "__metadata__")
    at = 0
    for s, e in ends:
        assert s == at; at = e
    assert 8 + n + at == len(b)
def png_ok(b):
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    p, z, iend = 8, zlib.decompressobj(), False
    data = b""
    while not iend:
        n = struct.unpack(">I", b[p:p + 4])[0]; t = b[p + 4:p + 8]; d = b[p + 8:p + 8 + n]
        assert len(d) == n and struct.unpack(">I", b[p + 8 + n:p + 12 + n])[0] == zlib.crc32(t + d)
        if t == b"IDAT": data += d
        iend = t == b"IEND"; p += 12 + n
    zlib.decompress(data)
def metrics_ok(b):
    lines = b.decode().split("\n")
    assert lines[-1] == ""
    def bad(c): raise ValueError(c)
    for i, l in enumerate(lines[:-1]):
        assert json.loads(l, parse_constant=bad)["epoch"] == i + 1
def csv_ok(b, rows):
    lines = b.decode().split("\n")
    assert lines[-1] == "" and len(lines) - 2 == rows, "%d rows" % (len(lines) - 2)
    cols = lines[0].count(",")
    assert all(l.count(",") == cols for l in lines[1:-1])
def export_id(b):
    m = re.search(rb"VAE_DECODER_EXPORT_ID (!= )?(0x[0-9a-f]+)UL", b)
    return m and m.group(2)
checks = {"model.safetensors": safetensors_ok, "train-state.safetensors": safetensors_ok, "loss.png": png_ok,
          "metrics.jsonl": metrics_ok, "codes.csv": lambda b: csv_ok(b, 500), "per-image.csv": lambda b: csv_ok(b, 500),
          "export/vae_decoder.h": lambda b: b.endswith(b"#endif /* VAE_DECODER_H */\n") or bad_(),
          "export/vae_decoder.c": lambda b: b.endswith(b"}\n") or bad_()}
def bad_(): raise ValueError("incomplete")
for name, fn in checks.items():
    p = os.path.join(run, name)
    if not os.path.exists(p): continue
    if old.get(name) == sha(p): continue
    try:
        fn(open(p, "rb").read())
    except Exception as e:
        print("%s: neither the old file nor a complete new one (%s)" % (name, e))
h, c = os.path.join(run, "export/vae_decoder.h"), os.path.join(run, "export/vae_decoder.c")
if os.path.exists(h) and os.path.exists(c) and export_id(open(h, "rb").read()) != export_id(open(c, "rb").read()):
    print("export: vae_decoder.h and vae_decoder.c come from different exports")
EOF
snapshot() { # the sha256 of every checked file of the run folder
    : >"$tmp/snap"
    for f in model.safetensors train-state.safetensors loss.png metrics.jsonl codes.csv per-image.csv \
        export/vae_decoder.h export/vae_decoder.c; do
        [ -f "$R/$f" ] && echo "$f $(sha256sum <"$R/$f" | cut -d' ' -f1)" >>"$tmp/snap"
    done
}
epochs_now() { [ -f "$R/train-state.safetensors" ] && state_counters "$R/train-state.safetensors" | cut -d' ' -f2 || echo 0; }
op_cmd() { # op_cmd OP: the command line of one operation into the array cmd
    case "$1" in
    train) cmd=("$VAE" train "${TRAIN[@]}" --force --epochs 2) ;;
    resume) cmd=("$VAE" train "${TRAIN[@]}" --resume --epochs $(($(epochs_now) + 2))) ;;
    encode) cmd=("$VAE" encode --model "$R/model.safetensors" --data "$D" --n 500 --out "$R/codes.csv" --threads 1) ;;
    eval) cmd=("$VAE" eval --model "$R/model.safetensors" --data "$D" --n 500 --per-image "$R/per-image.csv" --threads 1) ;;
    export-c) cmd=("$VAE" export-c --model "$R/model.safetensors" --out "$R/export") ;;
    esac
}
ops=(train resume encode eval export-c)
# measure each operation once (and make every file exist)
declare -A dur
for op in "${ops[@]}"; do
    op_cmd "$op"
    t0=$(date +%s.%N)
    "${cmd[@]}" >/dev/null 2>&1 || { echo "soak: $op failed on its own: ${cmd[*]}" >&2; exit 1; }
    dur[$op]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
done
echo "soak: durations (s): $(for op in "${ops[@]}"; do printf '%s %.2f  ' "$op" "${dur[$op]}"; done)"
kills=0 violations=0 tmps=0 exited=0 in_write=0
declare -A per_op
t_start=$(date +%s)
while [ "$kills" -lt "$kills_wanted" ]; do
    op="${ops[$((RANDOM % ${#ops[@]}))]}"
    op_cmd "$op"
    snapshot
    pause=""
    [ $((RANDOM % 2)) -eq 0 ] && pause="0.$((RANDOM % 200 + 1))"
    delay=$(awk -v d="${dur[$op]}" -v r="$RANDOM" -v p="${pause:-0}" 'BEGIN {printf "%.3f", (d + 4 * p) * r / 32768}')
    VAE_TEST_PAUSE_IN_WRITE="$pause" "${cmd[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    if kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        rc=$?
        pid=""
        if [ "$rc" -ne 137 ]; then exited=$((exited + 1)); continue; fi # it ended just before the kill
        kills=$((kills + 1))
        per_op[$op]=$((${per_op[$op]:-0} + 1))
        n_tmp=$(find "$R" -name '*.tmp-*' | wc -l)
        [ "$n_tmp" -gt 0 ] && in_write=$((in_write + 1))
        tmps=$((tmps + n_tmp))
        out="$(python3 "$tmp/check.py" "$R" "$tmp/snap")"
        if [ -n "$out" ]; then
            violations=$((violations + $(wc -l <<<"$out")))
            echo "soak: kill $kills ($op after ${delay}s, pause ${pause:-0}): $out" >&2
        fi
        [ $((kills % 20)) -eq 0 ] && echo "soak: $kills kills, $violations violations, $in_write inside a write, $(($(date +%s) - t_start)) s"
    else
        wait "$pid" 2>/dev/null
        pid=""
        exited=$((exited + 1))
    fi
    # a killed train --force may leave no model yet: make one so the readers have something to read
    [ -f "$R/model.safetensors" ] || "$VAE" train "${TRAIN[@]}" --force --epochs 1 >/dev/null 2>&1
    [ -f "$R/train-state.safetensors" ] || "$VAE" train "${TRAIN[@]}" --force --epochs 1 >/dev/null 2>&1
done
echo "soak: $kills SIGKILLs ($(for op in "${ops[@]}"; do printf '%s %d, ' "$op" "${per_op[$op]:-0}"; done)$exited runs ended before their kill): $violations files neither absent, old nor complete; $in_write kills left temporary files inside a write ($tmps in all, removed by the next write); $(($(date +%s) - t_start)) s"
[ "$violations" -eq 0 ]
