#!/usr/bin/env bash
# tests/test_tensorboard.sh: `vae train --tensorboard DIR` and metrics.csv end to end, read back by
# tests/tfevents_read.py (Python standard library, written apart from the C writer): every record's CRCs,
# every Event, every image's PNG. Trains 2 epochs on tests/fixtures/tiny-idx (3 images, batch 1: 3 steps
# an epoch), logging the objective every 2 steps, resumes to 3 epochs (a second event file), then checks
# the tags and step numbers, metrics.csv against metrics.jsonl, and that the reader rejects a flipped byte.
#
#   VAE=build/vae ROOT=. bash tests/test_tensorboard.sh     (scripts/run-tests sets both)
#
# Last line: "N passed, N failed"; the exit status is non-zero when anything failed.
set -uo pipefail

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
VAE="${VAE:-$ROOT/build/vae}"
DATA="$ROOT/tests/fixtures/tiny-idx"
source "$ROOT/tests/shell-lib.bash"
need_vae
use_tmp test_tensorboard
READ="python3 $ROOT/tests/tfevents_read.py"

flags=(--data "$DATA" --out "$T/run" --hidden 8 --latent 3 --batch 1 --threads 1 --tensorboard "$T/tb"
    --tensorboard-every 2)
check "train 2 epochs with --tensorboard" "$VAE" train "${flags[@]}" --epochs 2 >"$T/log" 2>&1
check "resume to 3 epochs" "$VAE" train "${flags[@]}" --epochs 3 --resume >>"$T/log" 2>&1
check "two event files" [ "$(ls "$T/tb" | grep -c tfevents)" = 2 ]
check "the reader accepts every record" bash -c "$READ '$T/tb' >'$T/events.jsonl'"
check "tags and steps" python3 - "$T/events.jsonl" "$T/run/metrics.jsonl" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
metrics = [json.loads(l) for l in open(sys.argv[2])]
steps = {}
for e in events:
    for v in e["values"]:
        steps.setdefault(v["tag"], []).append(e["step"])
# the objective every 2 steps over 3 epochs of 3 steps
assert steps["step/train_loss"] == [2, 4, 6, 8], steps["step/train_loss"]
for tag in ("epoch/train_loss", "epoch/test_loss", "epoch/test_recon", "epoch/test_kl", "epoch/active_units",
            "epoch/mi", "epoch/tc", "epoch/dwkl", "kl_dim/0", "kl_dim/2", "samples", "reconstructions"):
    assert steps.get(tag) == [1, 2, 3], (tag, steps.get(tag))
# each epoch's scalars are its metrics line's
for e in events:
    for v in e["values"]:
        if v["tag"] == "epoch/test_loss":
            assert abs(v["simple_value"] - metrics[e["step"] - 1]["test_loss"]) < 1e-3, (v, e["step"])
        if v["tag"] == "samples":
            assert v["image"]["colorspace"] == 1 and v["image"]["png_bytes"] > 0, v
PY
check "metrics.csv matches metrics.jsonl" python3 - "$T/run/metrics.csv" "$T/run/metrics.jsonl" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
lines = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == len(lines) == 3, (len(rows), len(lines))
for r, o in zip(rows, lines):
    for k, v in o.items():
        if isinstance(v, list):
            for i, x in enumerate(v):
                assert abs(float(r["%s_%d" % (k, i)]) - x) < 1e-6, (k, i)
        else:
            assert abs(float(r[k]) - v) < 1e-6 * max(1, abs(v)), (k, r[k], v)
PY
# the reader is not a rubber stamp: one flipped byte in a record's data, or a cut, fails it
f="$(ls "$T"/tb/*tfevents* | head -n 1)"
cp "$f" "$T/flip"
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[60] ^= 1; open(sys.argv[1], "wb").write(b)' "$T/flip"
check "a flipped byte is caught" bash -c "! $READ '$T/flip' >/dev/null 2>&1"
head -c $(($(stat -c %s "$f") - 3)) "$f" >"$T/cut"
check "a truncated record is caught" bash -c "! $READ '$T/cut' >/dev/null 2>&1"
# without --tensorboard: no event files, metrics.csv all the same
check "train without --tensorboard" "$VAE" train --data "$DATA" --out "$T/plain" --hidden 8 --latent 3 --batch 3 \
    --epochs 1 --threads 1 >"$T/log" 2>&1
check "metrics.csv without --tensorboard" [ "$(wc -l <"$T/plain/metrics.csv")" = 2 ]
check "--tensorboard into a path that cannot be a folder fails before training" \
    bash -c "! '$VAE' train --data '$DATA' --out '$T/bad' --hidden 8 --latent 3 --batch 3 --epochs 1 --threads 1 \
        --tensorboard '$T/plain/metrics.csv/x' >'$T/log' 2>&1 && grep -q tensorboard '$T/log' && [ ! -e '$T/bad/model.safetensors' ]"
finish
