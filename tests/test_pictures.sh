#!/usr/bin/env bash
# tests/test_pictures.sh: the picture subcommands end to end from the command line.
#
# Trains tiny models (a VAE, a conditional VAE and an autoencoder) on tests/fixtures/tiny-idx (3 images of
# 5 high x 7 wide, labels 2, 0, 7), runs sample, manifold, interpolate, recon and scatter on them and
# checks each PNG's size (read from its IHDR), then feeds every subcommand bad input: each must exit 2,
# name the flag or file at fault on stderr, and leave no output file. Runs in a second or two.
#
#   VAE=build/vae ROOT=. bash tests/test_pictures.sh     (scripts/run-tests sets both)
#
# Last line: "N passed, N failed"; the exit status is non-zero when anything failed.
set -uo pipefail

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
VAE="${VAE:-$ROOT/build/vae}"
DATA="$ROOT/tests/fixtures/tiny-idx"
T="$(mktemp -d "${TMPDIR:-/tmp}/test_pictures.XXXXXX")"
trap 'rm -rf "$T"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*" >&2
}

# png_size FILE: print "WIDTH HEIGHT" from the PNG header (signature, then IHDR with big-endian sizes).
png_size() {
    local sig b
    sig="$(od -An -tx1 -N8 "$1" 2>/dev/null | tr -d ' \n')"
    [ "$sig" = "89504e470d0a1a0a" ] || { echo "not-a-png"; return; }
    b=($(od -An -tu1 -j16 -N8 "$1"))
    echo "$(((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3])) $(((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]))"
}

# ok NAME WIDTH HEIGHT FILE -- ARGS...: the command succeeds and writes a PNG of that size.
ok() {
    local name="$1" w="$2" h="$3" file="$4"
    shift 5
    rm -f "$file"
    if ! "$VAE" "$@" >"$T/out" 2>"$T/err"; then
        fail "$name: exit status $? ($(head -c 300 "$T/err"))"
        return
    fi
    local size
    size="$(png_size "$file")"
    if [ "$size" = "$w $h" ]; then pass; else fail "$name: $file is '$size', want '$w $h'"; fi
}

# bad NAME WORD ARGS...: the command exits 2, says WORD (a flag or a file) on stderr, and writes no $T/bad.png.
bad() {
    local name="$1" word="$2" rc
    shift 2
    rm -f "$T/bad.png"
    "$VAE" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne 2 ]; then
        fail "$name: exit status $rc, want 2 (stderr: $(head -c 300 "$T/err"))"
    elif ! grep -qF -- "$word" "$T/err"; then
        fail "$name: stderr does not name '$word': $(head -c 300 "$T/err")"
    elif [ -e "$T/bad.png" ] || ls "$T" | grep -q '\.tmp-'; then
        fail "$name: an output file was left behind"
    else
        pass
    fi
}

# ---------------------------------------------------------------- tiny models

train() {
    local out="$1"
    shift
    if "$VAE" train --data "$DATA" --out "$out" --hidden 8 --latent 2 --batch 3 --epochs 2 --threads 1 "$@" \
        >"$T/train.log" 2>&1; then
        pass
    else
        fail "train $*: $(tail -n 3 "$T/train.log")"
    fi
}
train "$T/vae"
train "$T/cvae" --conditional
train "$T/ae" --ae
M="$T/vae/model.safetensors"
CM="$T/cvae/model.safetensors"
AM="$T/ae/model.safetensors"

# ---------------------------------------------------------------- pictures and their sizes
# Images are 5 high, 7 wide; the automatic scale is ceil(48 / 7) = 7, so a cell is 49 + 1 wide and
# 35 + 1 high, plus a 1-pixel frame: C columns and R rows give (50 C + 1) x (36 R + 1).

ok "sample default (64 in 8 columns)" 401 289 "$T/s.png" -- sample --model "$M" --out "$T/s.png"
ok "sample --n 5 --scale 1 (3 columns)" 25 13 "$T/s.png" -- sample --model "$M" --out "$T/s.png" --n 5 --scale 1 --seed 3
ok "sample of the autoencoder" 401 289 "$T/s.png" -- sample --model "$AM" --out "$T/s.png"
ok "conditional sample: one column per class (8)" 401 289 "$T/s.png" -- sample --model "$CM" --out "$T/s.png"
ok "conditional sample --label 7" 401 289 "$T/s.png" -- sample --model "$CM" --out "$T/s.png" --label 7
ok "manifold default 20 x 20" 1001 721 "$T/m.png" -- manifold --model "$M" --out "$T/m.png"
ok "manifold --grid 3 --dims 1,0" 151 109 "$T/m.png" -- manifold --model "$M" --out "$T/m.png" --grid 3 --dims 1,0
ok "manifold of a conditional model --label 2" 151 109 "$T/m.png" -- manifold --model "$CM" --out "$T/m.png" --grid 3 --label 2
ok "interpolate --from 0 --to 2 --steps 3" 251 37 "$T/i.png" -- interpolate --model "$M" --data "$DATA" --out "$T/i.png" --from 0 --to 2 --steps 3
ok "interpolate classes, 10 steps" 601 37 "$T/i.png" -- interpolate --model "$M" --data "$DATA" --out "$T/i.png" --from-class 7 --to-class 2
ok "interpolate with a conditional model" 601 37 "$T/i.png" -- interpolate --model "$CM" --data "$DATA" --out "$T/i.png" --from 1 --to 2
ok "recon --n 3 (1 pair of rows)" 151 73 "$T/r.png" -- recon --model "$M" --data "$DATA" --out "$T/r.png" --n 3
ok "recon --n 3 --scale 2" 46 23 "$T/r.png" -- recon --model "$CM" --data "$DATA" --out "$T/r.png" --n 3 --scale 2
ok "scatter" 900 800 "$T/sc.png" -- scatter --model "$M" --data "$DATA" --out "$T/sc.png"
ok "scatter --size 640x480" 640 480 "$T/sc.png" -- scatter --model "$M" --data "$DATA" --out "$T/sc.png" --size 640x480
ok "scatter of the autoencoder --dims 1,0" 900 800 "$T/sc.png" -- scatter --model "$AM" --data "$DATA" --out "$T/sc.png" --dims 1,0

# The manifold reports its smoothness on stderr.
"$VAE" manifold --model "$M" --out "$T/m.png" --grid 3 2>"$T/err" >/dev/null
if grep -q "smoothness: mean L2 distance [0-9.]* between neighbouring cells, [0-9.]* between random pairs" "$T/err"; then
    pass
else
    fail "manifold smoothness line: $(cat "$T/err")"
fi
# The same seed gives the same picture; another seed another one.
"$VAE" sample --model "$M" --out "$T/a.png" --seed 5 && "$VAE" sample --model "$M" --out "$T/b.png" --seed 5 &&
    "$VAE" sample --model "$M" --out "$T/c.png" --seed 6
if cmp -s "$T/a.png" "$T/b.png" && ! cmp -s "$T/a.png" "$T/c.png"; then pass; else fail "sample --seed is not reproducible"; fi
# --help lists the flags with their defaults and exits 0.
for cmd in sample manifold interpolate recon scatter; do
    if "$VAE" "$cmd" --help >"$T/out" 2>&1 && grep -q -- "--model" "$T/out" && grep -q "default" "$T/out"; then
        pass
    else
        fail "$cmd --help"
    fi
done
if "$VAE" manifold --help | grep -q -- "--grid N .*(default: 20)"; then pass; else fail "manifold --help shows --grid's default"; fi

# ---------------------------------------------------------------- bad input: exit 2, the flag or file named

printf 'this is not a checkpoint, just some bytes\n' >"$T/garbage.safetensors"
mkdir -p "$T/odd"  # a data folder whose test images are 2x2: the wrong shape for the model
printf '\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04' >"$T/odd/t10k-images-idx3-ubyte"
mkdir -p "$T/unlabelled"  # the fixture's test images without labels
cp "$DATA"/t10k-images-idx3-ubyte* "$T/unlabelled/"
O="$T/bad.png"

for cmd in sample manifold; do
    bad "$cmd: missing model" "nope.safetensors" "$cmd" --model "$T/nope.safetensors" --out "$O"
    bad "$cmd: corrupt model" "garbage.safetensors" "$cmd" --model "$T/garbage.safetensors" --out "$O"
    bad "$cmd: --label on an unconditional model" "--label" "$cmd" --model "$M" --out "$O" --label 1
    bad "$cmd: --label out of range" "--label" "$cmd" --model "$CM" --out "$O" --label 8
    bad "$cmd: output folder missing" "--out" "$cmd" --model "$M" --out "$T/no/such/folder/x.png"
    bad "$cmd: --out is a folder" "--out" "$cmd" --model "$M" --out "$T"
    bad "$cmd: unknown flag" "--bogus" "$cmd" --model "$M" --out "$O" --bogus 1
    bad "$cmd: --model missing" "--model" "$cmd" --out "$O"
done
for cmd in interpolate recon scatter; do
    extra=()
    [ "$cmd" = interpolate ] && extra=(--from 0 --to 1)
    bad "$cmd: missing model" "nope.safetensors" "$cmd" --model "$T/nope.safetensors" --data "$DATA" --out "$O" "${extra[@]}"
    bad "$cmd: corrupt model" "garbage.safetensors" "$cmd" --model "$T/garbage.safetensors" --data "$DATA" --out "$O" "${extra[@]}"
    bad "$cmd: unreadable data folder" "no-data" "$cmd" --model "$M" --data "$T/no-data" --out "$O" "${extra[@]}"
    bad "$cmd: images of the wrong shape" "odd" "$cmd" --model "$M" --data "$T/odd" --out "$O" "${extra[@]}"
    bad "$cmd: --data missing" "--data" "$cmd" --model "$M" --out "$O" "${extra[@]}"
    bad "$cmd: output folder missing" "--out" "$cmd" --model "$M" --data "$DATA" --out "$T/no/x.png" "${extra[@]}"
done
bad "manifold: --dims out of range" "--dims" manifold --model "$M" --out "$O" --dims 0,2
bad "manifold: --dims equal" "--dims" manifold --model "$M" --out "$O" --dims 1,1
bad "manifold: --dims not a pair" "--dims" manifold --model "$M" --out "$O" --dims 0
bad "manifold: --grid 0" "--grid" manifold --model "$M" --out "$O" --grid 0
bad "manifold: conditional model without --label" "--label" manifold --model "$CM" --out "$O"
bad "scatter: --dims out of range" "--dims" scatter --model "$M" --data "$DATA" --out "$O" --dims 2,0
bad "scatter: --size too small" "--size" scatter --model "$M" --data "$DATA" --out "$O" --size 100x100
bad "scatter: --size not a size" "--size" scatter --model "$M" --data "$DATA" --out "$O" --size 640x480x3
bad "sample: --n 0" "--n" sample --model "$M" --out "$O" --n 0
bad "sample: --scale 65" "--scale" sample --model "$M" --out "$O" --scale 65
bad "sample: a picture too large" "pixels" sample --model "$M" --out "$O" --n 100000 --scale 64
bad "interpolate: --from out of range" "--from" interpolate --model "$M" --data "$DATA" --out "$O" --from 3 --to 0
bad "interpolate: --to out of range" "--to" interpolate --model "$M" --data "$DATA" --out "$O" --from 0 --to 99
bad "interpolate: --from without --to" "--to" interpolate --model "$M" --data "$DATA" --out "$O" --from 0
bad "interpolate: neither pair" "--from" interpolate --model "$M" --data "$DATA" --out "$O"
bad "interpolate: both pairs" "--from-class" interpolate --model "$M" --data "$DATA" --out "$O" --from 0 --to 1 --from-class 2 --to-class 0
bad "interpolate: class absent from the test set" "--from-class 5" interpolate --model "$M" --data "$DATA" --out "$O" --from-class 5 --to-class 0
bad "interpolate: classes without labels" "--from-class" interpolate --model "$M" --data "$T/unlabelled" --out "$O" --from-class 2 --to-class 0
bad "interpolate: --steps 1" "--steps" interpolate --model "$M" --data "$DATA" --out "$O" --from 0 --to 1 --steps 1
bad "recon: --n larger than the test split" "--n" recon --model "$M" --data "$DATA" --out "$O" --n 4

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
