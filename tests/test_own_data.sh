#!/usr/bin/env bash
# test_own_data.sh: the CLI on the user's own data: a folder of colour PNG files and CSV files of floats.
#
# Makes (with python3, PNGs written by hand with zlib) a folder of 12x12 RGB images in two classes
# (train/red, train/blue: 40 each; test: 10 each; the classes differ in hue) and a CSV set (8 values per row
# with a label column); then `vae train` on each for 2 epochs (a small model, --threads 1), `vae eval`,
# `vae sample`, `vae manifold` and `vae recon` on the colour model (the PNGs must be RGB: colour type 2 in
# IHDR), a conditional model on the sub-folder labels, and the errors for a folder with a mismatched image, a
# ragged CSV and CSV values outside [0, 1] under the Bernoulli likelihood. Runs in a few seconds.
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
VAE="$(cd "$(dirname "$VAE")" && pwd)/$(basename "$VAE")"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
quiet() { # quiet CMD...: run CMD without its output, which is shown only when CMD fails
    "$@" >"$tmp/quiet.out" 2>&1 || { cat "$tmp/quiet.out" >&2; return 1; }
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_own_data.XXXXXX")"
# KEEP=1 keeps the folder (its path goes to stderr) to look at the fixtures and pictures
if [ -n "${KEEP:-}" ]; then echo "kept $tmp" >&2; else trap 'rm -rf "$tmp"' EXIT; fi

need_vae
if ! command -v python3 >/dev/null; then fail "python3 is needed to make the fixtures"; finish; fi

# The fixtures: colour/{train,test}/{red,blue}/NNN.png and csv/{train,test}.csv.
python3 - "$tmp" <<'EOF' || { fail "making the fixtures"; finish; }
import os, random, struct, sys, zlib

root = sys.argv[1]
rng = random.Random(5)

def png(path, w, h, rows):
    """rows: h lists of w (r, g, b) tuples; 8-bit RGB (colour type 2), filter 0 on every row"""
    raw = b"".join(b"\0" + bytes(v for px in row for v in px) for row in rows)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def image(cls):
    # a bright square of random place and size on a dark background: red-ish or blue-ish
    x0, y0, s = rng.randrange(0, 6), rng.randrange(0, 6), rng.randrange(4, 7)
    hue = (230, 60, 40) if cls == "red" else (40, 80, 230)
    return [[tuple(min(255, c + rng.randrange(0, 20)) if x0 <= x < x0 + s and y0 <= y < y0 + s
                   else rng.randrange(0, 20) for c in hue) for x in range(12)] for y in range(12)]

for split, n in (("train", 40), ("test", 10)):
    for cls in ("red", "blue"):
        d = os.path.join(root, "colour", split, cls)
        os.makedirs(d)
        for i in range(n):
            png(os.path.join(d, "%03d.png" % i), 12, 12, image(cls))

os.makedirs(os.path.join(root, "csv"))
for split, n in (("train", 80), ("test", 20)):
    with open(os.path.join(root, "csv", split + ".csv"), "w") as f:
        f.write("label," + ",".join("x%d" % j for j in range(8)) + "\n")
        for i in range(n):
            y = i % 2
            f.write("%d,%s\n" % (y, ",".join("%.6g" % (rng.gauss(3 * y - 1.5, 1.0) * (j + 1) / 4) for j in range(8))))
EOF

# colour_type PNG: the colour type byte of IHDR (0 grey, 2 RGB, 6 RGBA)
colour_type() { od -An -tu1 -j25 -N1 "$1" | tr -d ' '; }
# png_is_rgb WHAT PNG: the file exists, is a PNG and holds RGB
png_is_rgb() {
    local t
    t="$(colour_type "$2" 2>/dev/null)"
    if [ "$(head -c 4 "$2" 2>/dev/null | tail -c 3)" = "PNG" ] && [ "$t" = 2 ]; then ok; else fail "$1: $2 is not an RGB PNG (colour type '$t')"; fi
}
# lines FILE: the number of lines
lines() { wc -l <"$1" | tr -d ' '; }

small=(--hidden 32 --latent 2 --batch 8 --threads 1)

# ---------------------------------------------------------------- a folder of colour PNG files

check "train on a PNG folder" quiet "$VAE" train --data "$tmp/colour" --out "$tmp/run-colour" --epochs 2 \
    "${small[@]}"
check "two epochs of metrics" test "$(lines "$tmp/run-colour/metrics.jsonl" 2>/dev/null)" = 2
check "test_loss is a number" grep -Eq '"test_loss": ?[0-9]' "$tmp/run-colour/metrics.jsonl"

model="$tmp/run-colour/model.safetensors"
check "eval on the PNG folder" "$VAE" eval --model "$model" --data "$tmp/colour" --threads 1 >"$tmp/eval.json"
check "eval counts the 20 test images" grep -Eq '"n": ?20[,}]' "$tmp/eval.json"

check "sample" quiet "$VAE" sample --model "$model" --out "$tmp/sample.png" --n 16 --threads 1
png_is_rgb "sample" "$tmp/sample.png"
check "manifold" quiet "$VAE" manifold --model "$model" --out "$tmp/manifold.png" --grid 6 --threads 1
png_is_rgb "manifold" "$tmp/manifold.png"
check "recon" quiet "$VAE" recon --model "$model" --data "$tmp/colour" --out "$tmp/recon.png" --n 8 --threads 1
png_is_rgb "recon" "$tmp/recon.png"

# labels from the sub-folders (blue 0, red 1): a conditional model
check "conditional training on sub-folder labels" quiet "$VAE" train --data "$tmp/colour" --out "$tmp/run-cond" \
    --epochs 1 --conditional "${small[@]}"
check "conditional sample --label 1" quiet "$VAE" sample --model "$tmp/run-cond/model.safetensors" --out "$tmp/cond.png" \
    --n 4 --label 1 --threads 1
png_is_rgb "conditional sample" "$tmp/cond.png"
check "encode labels by sorted sub-folder" bash -c \
    "'$VAE' encode --model '$model' --data '$tmp/colour' --out '$tmp/enc.csv' --threads 1 &&
     head -1 '$tmp/enc.csv' | grep -q '^index,label,mu_1,mu_2,logvar_1,logvar_2' &&
     [ \$(grep -c '^[0-9]*,0,' '$tmp/enc.csv') = 10 ] && [ \$(grep -c '^[0-9]*,1,' '$tmp/enc.csv') = 10 ]"

# a mismatched image: refused before training, naming the file and the first image
cp -r "$tmp/colour" "$tmp/colour-bad"
python3 - "$tmp/colour-bad/train/red/020.png" <<'EOF'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
raw = b"".join(b"\0" + bytes(3 * 13) for _ in range(12))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 13, 12, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
EOF
"$VAE" train --data "$tmp/colour-bad" --out "$tmp/run-bad" --epochs 1 "${small[@]}" >/dev/null 2>"$tmp/bad.err"
rc=$?
check "mismatched image: exit 2 (got $rc)" test "$rc" = 2
check "mismatched image: the message names the file and the first image" \
    grep -q "train/red/020.png: 13x12 RGB, but the first image .*train/blue/000.png is 12x12 RGB" "$tmp/bad.err"

# ---------------------------------------------------------------- CSV of floats

check "train on CSV, gaussian" quiet "$VAE" train --data "$tmp/csv" --out "$tmp/run-csv" --epochs 2 \
    --likelihood gaussian "${small[@]}"
check "CSV: two epochs of metrics" test "$(lines "$tmp/run-csv/metrics.jsonl" 2>/dev/null)" = 2
check "eval on CSV" "$VAE" eval --model "$tmp/run-csv/model.safetensors" --data "$tmp/csv" --threads 1 \
    >"$tmp/csv-eval.json"
check "CSV eval counts the 20 test rows" grep -Eq '"n": ?20[,}]' "$tmp/csv-eval.json"
check "decode a CSV row" quiet "$VAE" decode --model "$tmp/run-csv/model.safetensors" --z "0.5,-1" --out "$tmp/row.csv"
check "decoded row has 8 values" test "$(tr ',' '\n' <"$tmp/row.csv" | grep -c .)" = 8

"$VAE" train --data "$tmp/csv" --out "$tmp/run-csv-b" --epochs 1 "${small[@]}" >/dev/null 2>"$tmp/csv-b.err"
rc=$?
check "CSV outside [0, 1] with bernoulli: exit 2 (got $rc)" test "$rc" = 2
check "CSV outside [0, 1]: the message says --likelihood gaussian" grep -q "likelihood gaussian" "$tmp/csv-b.err"

mkdir "$tmp/csv-bad"
cp "$tmp/csv/test.csv" "$tmp/csv-bad/test.csv"
{ head -5 "$tmp/csv/train.csv"; echo "1,2,3"; tail -n +6 "$tmp/csv/train.csv"; } >"$tmp/csv-bad/train.csv"
"$VAE" train --data "$tmp/csv-bad" --out "$tmp/run-csv-bad" --epochs 1 --likelihood gaussian "${small[@]}" \
    >/dev/null 2>"$tmp/csv-bad.err"
rc=$?
check "ragged CSV: exit 2 (got $rc)" test "$rc" = 2
check "ragged CSV: file:line in the message" grep -q "csv-bad/train.csv:6: 3 values, but line 1 has 9" "$tmp/csv-bad.err"

finish
