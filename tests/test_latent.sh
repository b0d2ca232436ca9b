#!/usr/bin/env bash
# tests/test_latent.sh: the latent diagnostics and `vae traverse` end to end from the command line.
#
# Trains tiny models on tests/fixtures/tiny-idx (3 images of 5 high x 7 wide, labels 2, 0, 7): a VAE with
# latent 3, a conditional VAE, an autoencoder, and VAEs with --free-bits and --tc-beta (each resumed; their
# refusals at the end). Checks that each metrics.jsonl line of the VAE carries
# kl_dim (3 values summing to test_kl), active_units, mi, tc and dwkl; that `vae eval` of the final model
# repeats the last line's diagnostics exactly; that the autoencoder's carry none; then `vae traverse`: the
# PNG's size, the table of dimensions in decreasing KL, and its refusals (exit 2 naming the flag or file).
#
#   VAE=build/vae ROOT=. bash tests/test_latent.sh     (scripts/run-tests sets both)
#
# Last line: "N passed, N failed"; the exit status is non-zero when anything failed.
set -uo pipefail

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
VAE="${VAE:-$ROOT/build/vae}"
DATA="$ROOT/tests/fixtures/tiny-idx"
source "$ROOT/tests/shell-lib.bash"
need_vae
use_tmp test_latent

train() { # train RUN FLAGS...
    local out="$1"
    shift
    check "train $*" "$VAE" train --data "$DATA" --out "$out" --hidden 8 --latent 3 --batch 3 --epochs 2 --threads 1 \
        "$@" >"$T/train.log" 2>&1 || tail -n 3 "$T/train.log" >&2
}
train "$T/vae"
train "$T/cvae" --conditional
train "$T/ae" --ae
train "$T/fb" --free-bits 0.5
check "free bits named in the objective line" grep -q "free bits" "$T/train.log"
check "free bits recorded and kept on --resume" "$VAE" train --data "$DATA" --out "$T/fb" --resume --epochs 3 \
    --threads 1 >"$T/train.log" 2>&1
check "metrics after resume" metrics_ok "$T/fb" 3
train "$T/tc" --tc-beta 6
check "beta-TC named in the objective line" grep -q "beta-TC-VAE, total correlation weight 6" "$T/train.log"
check "beta-TC kept on --resume" "$VAE" train --data "$DATA" --out "$T/tc" --resume --epochs 3 --threads 1 \
    >"$T/train.log" 2>&1
check "beta-TC's objective line again after --resume" grep -q "beta-TC-VAE" "$T/train.log"

# metrics: the diagnostics on every line, kl_dim summing to test_kl
check "metrics lines carry the diagnostics" python3 - "$T/vae/metrics.jsonl" <<'PY'
import json, math, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 2, lines
for o in lines:
    assert len(o["kl_dim"]) == 3, o
    assert abs(sum(o["kl_dim"]) - o["test_kl"]) < 1e-4, (sum(o["kl_dim"]), o["test_kl"])
    assert 0 <= o["active_units"] <= 3
    for k in ("mi", "tc", "dwkl"):
        assert math.isfinite(o[k]), (k, o)
    assert o["mi"] <= math.log(3) + 1e-4, o   # I(x; z) <= log n over n = 3 test images
PY
check "the autoencoder's metrics carry none" bash -c "! grep -q kl_dim '$T/ae/metrics.jsonl'"

# eval repeats the last metrics line's diagnostics (same images, binarization, seed and minibatch)
"$VAE" eval --model "$T/vae/model.safetensors" --data "$DATA" --threads 1 >"$T/eval.json" 2>"$T/err"
check "eval = last metrics line" python3 - "$T/eval.json" "$T/vae/metrics.jsonl" <<'PY'
import json, sys
e = json.loads(open(sys.argv[1]).read())
m = [json.loads(l) for l in open(sys.argv[2])][-1]
for k in ("kl_dim", "active_units", "mi", "tc", "dwkl"):
    assert e[k] == m[k], (k, e[k], m[k])
PY
"$VAE" eval --model "$T/ae/model.safetensors" --data "$DATA" --threads 1 >"$T/eval-ae.json" 2>"$T/err"
check "eval of an autoencoder: no diagnostics" bash -c "grep -q '\"recon\"' '$T/eval-ae.json' && ! grep -q kl_dim '$T/eval-ae.json'"

# traverse: 3 rows of 1 marker + 5 steps; cells 7 wide x 5 high at the automatic scale 7 (49 x 35 px)
png_size() { python3 -c 'import struct,sys; b=open(sys.argv[1],"rb").read(24); assert b[:8]==b"\x89PNG\r\n\x1a\n"; print(*struct.unpack(">II", b[16:24]))' "$1"; }
"$VAE" traverse --model "$T/vae/model.safetensors" --data "$DATA" --out "$T/t.png" --steps 5 --image 1 >"$T/t.csv" 2>"$T/err"
check "traverse writes the mosaic" [ "$(png_size "$T/t.png")" = "$((6 * 50 + 1)) $((3 * 36 + 1))" ]
check "traverse's table: 3 dims in decreasing KL" python3 - "$T/t.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [int(r["row"]) for r in rows] == [0, 1, 2], rows
assert sorted(int(r["dim"]) for r in rows) == [0, 1, 2], rows
kl = [float(r["kl"]) for r in rows]
assert kl == sorted(kl, reverse=True), kl
PY
check "traverse of a conditional model at image 0's label" "$VAE" traverse --model "$T/cvae/model.safetensors" \
    --data "$DATA" --out "$T/c.png" --image 0 --steps 3 >"$T/out" 2>"$T/err"
bad() { # bad NAME WORD ARGS...: exit 2, WORD on stderr, no $T/bad.png
    local name="$1" word="$2" rc
    shift 2
    "$VAE" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -eq 2 ] && grep -qF -- "$word" "$T/err" && [ ! -e "$T/bad.png" ]; then ok; else
        fail "$name: exit $rc, stderr: $(head -c 300 "$T/err")"
    fi
}
bad "traverse of an autoencoder" "autoencoder" traverse --model "$T/ae/model.safetensors" --data "$DATA" --out "$T/bad.png"
bad "traverse --image out of range" "--image" traverse --model "$T/vae/model.safetensors" --data "$DATA" --out "$T/bad.png" --image 3
bad "traverse --n out of range" "--n" traverse --model "$T/vae/model.safetensors" --data "$DATA" --out "$T/bad.png" --n 4
bad "conditional traverse without a label" "--label" traverse --model "$T/cvae/model.safetensors" --data "$DATA" --out "$T/bad.png"
bad "traverse --label on an unconditional model" "--label" traverse --model "$T/vae/model.safetensors" --data "$DATA" \
    --out "$T/bad.png" --label 1
bad "traverse --steps 0" "--steps" traverse --model "$T/vae/model.safetensors" --data "$DATA" --out "$T/bad.png" --steps 0
bad "traverse of a missing model" "nope.safetensors" traverse --model "$T/nope.safetensors" --data "$DATA" --out "$T/bad.png"
bad "--free-bits conflicting with the run resumed" "--free-bits" train --data "$DATA" --out "$T/fb" --resume \
    --epochs 4 --free-bits 1
bad "--free-bits with --ae" "--free-bits" train --data "$DATA" --out "$T/bad1" --ae --free-bits 1 --batch 3 --epochs 1
bad "--free-bits with --iwae-k" "--free-bits" train --data "$DATA" --out "$T/bad2" --iwae-k 2 --free-bits 1 --batch 3 --epochs 1
bad "negative --free-bits" "--free-bits" train --data "$DATA" --out "$T/bad3" --free-bits -1 --batch 3 --epochs 1
bad "--tc-beta conflicting with the run resumed" "--tc-beta" train --data "$DATA" --out "$T/tc" --resume --epochs 4 \
    --tc-beta 2
bad "--tc-beta with --ae" "--tc-beta" train --data "$DATA" --out "$T/bad4" --ae --tc-beta 6 --batch 3 --epochs 1
bad "--tc-beta with --free-bits" "--tc-beta" train --data "$DATA" --out "$T/bad5" --free-bits 1 --tc-beta 6 --batch 3 --epochs 1
finish
