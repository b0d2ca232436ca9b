#!/usr/bin/env bash
# test_dropout.sh: `vae train --dropout P` from the command line.
#
# On a subset of real MNIST (data/mnist: 600 training, 100 test images), a 784-32-4 VAE:
#   - --dropout 0.25 trains and records dropout=0.25 in both checkpoints' metadata; without the flag there
#     is no dropout key;
#   - --resume rebuilds the dropout from the training state (1 epoch + resume gives the same bytes as 2 epochs
#     in one go) and refuses another --dropout;
#   - eval, encode and decode on the dropout model are deterministic (dropout only acts while training);
#   - bad values exit 2 naming --dropout: 1, -0.1, not a number.
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_dropout.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# meta FILE KEY: the metadata value of KEY in a safetensors file ("" when absent)
meta() { grep -a -o "\"$2\": *\"[^\"]*\"" "$1" | head -n 1 | sed 's/.*: *"\(.*\)"$/\1/'; }
# bad_flag VALUE: train with --dropout VALUE exits 2 naming the flag
bad_flag() {
    "$VAE" train "${args[@]}" --out "$tmp/bad" --epochs 1 --dropout "$1" >/dev/null 2>"$tmp/bad.err"
    [ $? -eq 2 ] && grep -q -- "--dropout" "$tmp/bad.err"
}

need_vae
need_mnist
data="$tmp/mnist"
subset "$ROOT/data/mnist" "$data" 600 100
args=(--data "$data" --hidden 32 --latent 4 --batch 50 --threads 1 --seed 4)

check "--dropout 0.25 trains" "$VAE" train "${args[@]}" --out "$tmp/a" --epochs 2 --dropout 0.25 >/dev/null 2>&1
check "model.safetensors records dropout=0.25" [ "$(meta "$tmp/a/model.safetensors" dropout)" = "0.25" ]
check "train-state.safetensors records dropout=0.25" [ "$(meta "$tmp/a/train-state.safetensors" dropout)" = "0.25" ]
check "without --dropout" "$VAE" train "${args[@]}" --out "$tmp/none" --epochs 1 >/dev/null 2>&1
check "no dropout key without the flag" [ -z "$(meta "$tmp/none/model.safetensors" dropout)" ]
# train_loss LINE RUN: the training loss of an epoch in RUN's metrics.jsonl
train_loss() { sed -n "$1p" "$2/metrics.jsonl" | grep -o '"train_loss": [^,]*'; }
check "dropout changes the training loss" [ "$(train_loss 1 "$tmp/none")" != "$(train_loss 1 "$tmp/a")" ]

# resume: 1 epoch, then --resume to 2 without the flag, gives the 2-epoch run's bytes
check "1 epoch with dropout" "$VAE" train "${args[@]}" --out "$tmp/b" --epochs 1 --dropout 0.25 >/dev/null 2>&1
check "--resume keeps dropout" "$VAE" train --data "$data" --out "$tmp/b" --epochs 2 --threads 1 --resume >/dev/null 2>&1
check "resumed run = one run" cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"
"$VAE" train --data "$data" --out "$tmp/b" --epochs 3 --threads 1 --resume --dropout 0.5 >/dev/null 2>"$tmp/conflict.err"
check "--resume with another --dropout exits 2" [ $? -eq 2 ]
check "the conflict names --dropout" grep -q -- "--dropout conflicts" "$tmp/conflict.err"

# evaluation and inference do not drop
"$VAE" eval --model "$tmp/a/model.safetensors" --data "$data" --n 50 --threads 1 >"$tmp/e1.json" 2>/dev/null
"$VAE" eval --model "$tmp/a/model.safetensors" --data "$data" --n 50 --threads 1 >"$tmp/e2.json" 2>/dev/null
check "eval runs and repeats itself" bash -c "[ -s '$tmp/e1.json' ] && cmp -s '$tmp/e1.json' '$tmp/e2.json'"
"$VAE" decode --model "$tmp/a/model.safetensors" --z "0.5,-1,0,1" --out "$tmp/d1.csv" >/dev/null 2>&1
"$VAE" decode --model "$tmp/a/model.safetensors" --z "0.5,-1,0,1" --out "$tmp/d2.csv" >/dev/null 2>&1
check "decode is deterministic" bash -c "[ -s '$tmp/d1.csv' ] && cmp -s '$tmp/d1.csv' '$tmp/d2.csv'"

for v in 1 -0.1 x; do check "--dropout $v exits 2 naming the flag" bad_flag "$v"; done
finish
