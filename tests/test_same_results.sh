#!/usr/bin/env bash
# test_same_results.sh: the refactored model gives the results of the code before it, bit for bit.
#
# Trains seven small models (the 784-400-20 MLP with an lr schedule, the default convolutional model, a
# Gaussian tanh model, a conditional beta-VAE with KL warm-up and dynamic binarization, an autoencoder, the
# IWAE k = 5 model, a conditional Gaussian conv model) for 2 epochs on 1000 real MNIST images with
# --threads 1, a fixed seed and VAE_ENGINE=openblas, and compares model.safetensors and
# train-state.safetensors with those of commit REF (6e9a676, before the layer list): every parameter and
# Adam moment byte, the tensor table and every metadata value (tests/same_results.py).
# The old code's figures are recorded in tests/fixtures/same-results.txt for the machine named there
# (float results depend on the CPU's vector units and OpenBLAS's kernels); on another machine the test
# builds REF from git into a temporary folder and compares with its checkpoints directly (so does
# SAME_RESULTS_BUILD_REF=1 anywhere).
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them). `tests/test_same_results.sh --record` rewrites the fixture (run it with the old code's binary).
# Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
REF=6e9a676a8d071ed8f9fec8a56525459ccf56c48f
fixture="$ROOT/tests/fixtures/same-results.txt"
cmp_py="$ROOT/tests/same_results.py"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_same_results.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

models=(
    "mlp|--batch 100 --lr-schedule 1:1e-3,1:5e-4"
    "conv|--batch 100 --arch conv --latent 8"
    "gaussian|--batch 100 --likelihood gaussian --activation tanh --hidden 64 --latent 8"
    "conditional|--batch 100 --conditional --binarize dynamic --beta 0.5 --kl-warmup 1 --hidden 64,32"
    "ae|--batch 100 --ae --hidden 64,32 --latent 8"
    "iwae|--iwae-k 5 --hidden 64 --latent 8 --batch 20"
    "conv-cond|--batch 50 --arch conv --channels 8,16 --conditional --likelihood gaussian --hidden 32 --latent 4"
)

# fingerprint: what the float results depend on besides the code (CPU model and its vector units)
fingerprint() {
    { grep -m1 '^model name' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
        grep -xE 'avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|amx_tile' | sort | tr '\n' ' '; } |
        sha256sum | cut -c1-16
}

# train BIN NAME FLAGS...: one model into $tmp/BIN-NAME
train() {
    local bin="$1" name="$2"
    shift 2
    VAE_ENGINE=openblas "$bin" train --data "$data" --out "$tmp/$(basename "$bin")-$name" --epochs 2 --threads 1 \
        --seed 5 "$@" >"$tmp/$name.log" 2>&1
}

need_vae
need_mnist
data="$tmp/mnist"
subset "$ROOT/data/mnist" "$data" 1000 100

if [ "${1:-}" = "--record" ]; then
    echo "fingerprint $(fingerprint)" >"$fixture"
    for entry in "${models[@]}"; do
        name="${entry%%|*}"
        train "$VAE" "$name" ${entry#*|} || { echo "$name: training failed" >&2; exit 1; }
        for f in model train-state; do
            echo "$name $f $(python3 "$cmp_py" line "$tmp/$(basename "$VAE")-$name/$f.safetensors")" >>"$fixture"
        done
    done
    echo "recorded $fixture"
    exit 0
fi

# reference NAME FILE: the old code's line for NAME's FILE (model or train-state)
if [ -z "${SAME_RESULTS_BUILD_REF:-}" ] && [ "$(sed -n 's/^fingerprint //p' "$fixture")" = "$(fingerprint)" ]; then
    reference() { sed -n "s/^$1 $2 //p" "$fixture"; }
else
    echo "tests/fixtures/same-results.txt was recorded on another machine (or SAME_RESULTS_BUILD_REF is set): building $REF from git" >&2
    old="$tmp/old"
    mkdir -p "$old"
    if ! git -C "$ROOT" archive "$REF" | tar -x -C "$old" || ! make -s -C "$old" -j2 build/vae >"$tmp/build.log" 2>&1; then
        fail "cannot build the reference commit $REF (git history needed): $(tail -n 3 "$tmp/build.log" 2>/dev/null)"
        finish
    fi
    cp "$old/build/vae" "$tmp/vae-old"
    reference() { python3 "$cmp_py" line "$tmp/vae-old-$1/$2.safetensors"; }
fi

for entry in "${models[@]}"; do
    name="${entry%%|*}"
    if ! train "$VAE" "$name" ${entry#*|}; then
        fail "$name: training failed: $(tail -n 2 "$tmp/$name.log")"
        continue
    fi
    [ -x "$tmp/vae-old" ] && train "$tmp/vae-old" "$name" ${entry#*|}
    for f in model train-state; do
        ref="$(reference "$name" "$f")"
        if [ -z "$ref" ]; then
            fail "$name $f: no reference"
        elif why="$(python3 "$cmp_py" same "$ref" "$tmp/$(basename "$VAE")-$name/$f.safetensors")"; then
            ok
        else
            fail "$name $f.safetensors differs from the old code's: $why"
        fi
    done
done
finish
