#!/usr/bin/env bash
# test_torch.sh: libvae checkpoints in PyTorch and PyTorch models in libvae (scripts/torch_interop.py).
#
# Both directions, on the first test images of real MNIST (data/mnist):
#   libvae -> torch: train small models with `vae train` (Bernoulli/ReLU, conditional Gaussian/tanh with
#     two hidden layers, a plain autoencoder), load them in torch, and compare torch's mu, logvar and
#     decoder means with `vae encode` and `vae decode --out x.csv`;
#   torch -> libvae: build torch models with torch's own initialisation (784-400-20, a conditional
#     Gaussian/tanh one, an autoencoder without hidden layers), write them as libvae checkpoints, and
#     compare the same outputs.
# Every comparison: max absolute difference <= 1e-4 (computed in Python).
#
# Needs /usr/bin/python3 with python3-torch (scripts/setup installs it; its absence is a failure, not a
# skip), VAE (the vae binary) and ROOT (the repository root). Prints "N passed, N failed" last; exits
# non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
PY=/usr/bin/python3 # Debian's python3: the one that sees python3-torch (another may come first on PATH)
SCRIPT="$ROOT/scripts/torch_interop.py"
TOL=1e-4
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_torch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT


need_vae
if ! "$PY" -c 'import torch' 2>"$tmp/err"; then
    fail "$PY cannot import torch (scripts/setup installs python3-torch): $(tail -n 1 "$tmp/err")"
    finish
fi
ok
need_mnist
data="$tmp/mnist"
subset "$ROOT/data/mnist" "$data" 5000 100

# vae_decode_all MODEL ZCSV OUT: `vae decode --out x.csv` for each row "label,z1,...,zZ" of ZCSV (after its
# header), the rows concatenated into OUT
vae_decode_all() {
    local model="$1" zcsv="$2" out="$3" label z
    : >"$out"
    tail -n +2 "$zcsv" | while IFS=, read -r label z; do
        if [ "$label" -ge 0 ]; then
            "$VAE" decode --model "$model" --z "$z" --label "$label" --out "$tmp/one.csv" || exit 1
        else
            "$VAE" decode --model "$model" --z "$z" --out "$tmp/one.csv" || exit 1
        fi
        cat "$tmp/one.csv" >>"$out"
    done
}

# compare_outputs NAME MODEL: vae encode/decode of MODEL against torch's CSVs $tmp/NAME-torch-{enc,dec}.csv
compare_outputs() {
    local name="$1" model="$2"
    "$VAE" encode --model "$model" --data "$data" --n 16 --out "$tmp/$name-vae-enc.csv" 2>"$tmp/err"
    check "$name: vae encode exits 0 ($(cat "$tmp/err"))" [ $? -eq 0 ]
    vae_decode_all "$model" "$tmp/$name-z.csv" "$tmp/$name-vae-dec.csv" 2>"$tmp/err"
    check "$name: vae decode exits 0 ($(cat "$tmp/err"))" [ $? -eq 0 ]
    check "$name: mu and logvar within $TOL" "$PY" "$SCRIPT" compare "$tmp/$name-vae-enc.csv" \
        "$tmp/$name-torch-enc.csv" --tol "$TOL" --what "$name: encode (vae vs torch)"
    check "$name: decoder means within $TOL" "$PY" "$SCRIPT" compare "$tmp/$name-vae-dec.csv" \
        "$tmp/$name-torch-dec.csv" --tol "$TOL" --what "$name: decode (vae vs torch)"
}

# ---------------------------------------------------------------- libvae -> torch

libvae_to_torch() { # NAME TRAIN-FLAGS...
    local name="$1"
    shift
    "$VAE" train --data "$data" --out "$tmp/$name" --epochs 1 --batch 100 --threads 1 "$@" >"$tmp/$name.log" 2>&1
    check "$name: vae train exits 0" [ $? -eq 0 ]
    [ -f "$tmp/$name/model.safetensors" ] || return
    "$PY" "$SCRIPT" export-check --model "$tmp/$name/model.safetensors" --data "$data" --n 16 \
        --encode-out "$tmp/$name-torch-enc.csv" --z-out "$tmp/$name-z.csv" --decode-out "$tmp/$name-torch-dec.csv" \
        2>"$tmp/err"
    check "$name: torch_interop.py export-check exits 0 ($(tail -n 3 "$tmp/err"))" [ $? -eq 0 ]
    compare_outputs "$name" "$tmp/$name/model.safetensors"
}
libvae_to_torch vae-bernoulli --hidden 64 --latent 4
libvae_to_torch vae-conditional --hidden 48,32 --latent 3 --conditional --likelihood gaussian --activation tanh
libvae_to_torch vae-ae --ae --hidden 32 --latent 2

# ---------------------------------------------------------------- torch -> libvae

torch_to_libvae() { # NAME ARCH-FLAGS...
    local name="$1"
    shift
    "$PY" "$SCRIPT" torch-to-vae --out "$tmp/$name.safetensors" --seed 3 "$@" --data "$data" --n 16 \
        --encode-out "$tmp/$name-torch-enc.csv" --z-out "$tmp/$name-z.csv" --decode-out "$tmp/$name-torch-dec.csv" \
        2>"$tmp/err"
    check "$name: torch_interop.py torch-to-vae exits 0 ($(tail -n 3 "$tmp/err"))" [ $? -eq 0 ]
    compare_outputs "$name" "$tmp/$name.safetensors"
    "$VAE" eval --model "$tmp/$name.safetensors" --data "$data" --n 50 >"$tmp/eval.json" 2>"$tmp/err"
    check "$name: vae eval reads the torch checkpoint ($(cat "$tmp/err"))" grep -q '"loss"' "$tmp/eval.json"
}
torch_to_libvae torch-default --hidden 400 --latent 20
torch_to_libvae torch-conditional --hidden 64,32 --latent 5 --classes 10 --likelihood gaussian --activation tanh
torch_to_libvae torch-ae --ae --hidden "" --latent 3

# A torch checkpoint round trip: the script reads back what it wrote, and libvae's reader accepts its layout.
"$PY" - "$SCRIPT" "$tmp/torch-default.safetensors" <<'EOF'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ti", sys.argv[1])
ti = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ti)
ti.import_torch()
tensors, meta = ti.read_safetensors(sys.argv[2])
assert meta["format"] == "libvae-model" and meta["format_version"] == "1", meta
assert list(tensors["enc.head.weight"].shape) == [40, 400], tensors["enc.head.weight"].shape
assert list(tensors["dec.out.weight"].shape) == [784, 400]
EOF
check "torch-to-vae writes the documented names, shapes and metadata" [ $? -eq 0 ]

finish
