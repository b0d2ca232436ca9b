#!/usr/bin/env bash
# test_resume.sh: `vae train --resume`, `--force`, and stopping by SIGINT.
#
# On a subset of real MNIST (data/mnist: 30000 training, 1000 test images), a 784-32-2 VAE with batch 10
# (3000 steps an epoch, about a second):
#   - 2 epochs in one go, and 1 epoch then `--resume --epochs 2`, give byte-identical model.safetensors;
#   - SIGINT in the middle of an epoch: exit 130, a message naming --resume, a training state that
#     records the position, and `--resume` then gives the same bytes as the uninterrupted run;
#   - --resume without a checkpoint, --resume with a conflicting --hidden, and a non-empty run folder
#     without --force exit 2; --force starts over (and gives the same bytes again).
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
differ() { ! cmp -s "$1" "$2"; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_resume.XXXXXX")"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT


need_vae
need_mnist
data="$tmp/mnist"
subset "$ROOT/data/mnist" "$data" 30000 1000

# Same thread count everywhere: the same seed and threads give the same run, bit for bit.
args=(--data "$data" --hidden 32 --latent 2 --batch 10 --threads 1 --seed 5)
train() { "$VAE" train "${args[@]}" "$@"; }

# ---------------------------------------------------------------- 2 epochs vs 1 + resume

train --out "$tmp/a" --epochs 2 >"$tmp/a.out" 2>"$tmp/a.err"
check "2 epochs in one go exit 0" [ $? -eq 0 ]
if [ ! -f "$tmp/a/model.safetensors" ]; then fail "no model after 2 epochs"; cat "$tmp/a.err" >&2; finish; fi

train --out "$tmp/b" --epochs 1 >"$tmp/b.out" 2>"$tmp/b.err"
check "1 epoch exits 0" [ $? -eq 0 ]
check "1 epoch writes the training state" [ -f "$tmp/b/train-state.safetensors" ]
check "1 epoch differs from 2" differ "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"
"$VAE" train --data "$data" --threads 1 --out "$tmp/b" --resume --epochs 2 >"$tmp/b2.out" 2>"$tmp/b2.err"
check "--resume --epochs 2 exits 0" [ $? -eq 0 ]
check "1 epoch + resume to 2: model.safetensors byte-identical to 2 in one go" \
    cmp "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"
check "metrics.jsonl holds epochs 1 and 2" \
    [ "$(sed -n 's/.*"epoch": \([0-9]*\),.*/\1/p' "$tmp/b/metrics.jsonl" | tr '\n' ' ')" = "1 2 " ]
"$VAE" train --data "$data" --threads 1 --out "$tmp/b" --resume --epochs 2 >/dev/null 2>"$tmp/b3.err"
check "--resume of a finished run exits 0" [ $? -eq 0 ]
check "  and leaves the model as it was" cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"

# ---------------------------------------------------------------- SIGINT in the middle of an epoch

"$VAE" train "${args[@]}" --out "$tmp/c" --epochs 2 >"$tmp/c.out" 2>"$tmp/c.err" & # not the function: $! must be vae
pid=$!
# wait for the first progress line (a quarter of epoch 1 done), then interrupt with 3/4 of it to go
for _ in $(seq 600); do
    grep -q "batches" "$tmp/c.err" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=""
check "SIGINT: exit status 130 (got $rc)" [ "$rc" -eq 130 ]
check "SIGINT: the message says how to continue with --resume" grep -q -- "--resume" "$tmp/c.err"
if grep -q "stopped by signal 2 in epoch" "$tmp/c.err"; then
    ok
else
    fail "SIGINT did not land inside an epoch (machine too slow or too fast?): $(grep stopped "$tmp/c.err")"
fi
check "SIGINT: the training state is written" [ -f "$tmp/c/train-state.safetensors" ]
"$VAE" train --data "$data" --threads 1 --out "$tmp/c" --resume --epochs 2 >"$tmp/c2.out" 2>"$tmp/c2.err"
check "--resume after SIGINT exits 0" [ $? -eq 0 ]
check "SIGINT mid-epoch + resume: model.safetensors byte-identical to the uninterrupted run" \
    cmp "$tmp/a/model.safetensors" "$tmp/c/model.safetensors"
check "SIGINT mid-epoch + resume: metrics.jsonl holds epochs 1 and 2" \
    [ "$(sed -n 's/.*"epoch": \([0-9]*\),.*/\1/p' "$tmp/c/metrics.jsonl" | tr '\n' ' ')" = "1 2 " ]

# ---------------------------------------------------------------- refusals

mkdir -p "$tmp/empty"
"$VAE" train --data "$data" --threads 1 --out "$tmp/empty" --resume --epochs 2 >/dev/null 2>"$tmp/err"
check "--resume without a checkpoint exits 2" [ $? -eq 2 ]
check "  and says so" grep -q "train-state.safetensors" "$tmp/err"
"$VAE" train --data "$data" --threads 1 --out "$tmp/b" --resume --epochs 3 --hidden 16 >/dev/null 2>"$tmp/err"
check "--resume with a conflicting --hidden exits 2" [ $? -eq 2 ]
check "  and names --hidden" grep -q -- "--hidden" "$tmp/err"
"$VAE" train --data "$data" --threads 1 --out "$tmp/b" --resume --epochs 3 --batch 20 >/dev/null 2>"$tmp/err"
check "--resume with a conflicting --batch exits 2" [ $? -eq 2 ]
check "  and the refused runs left the model alone" cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"
train --out "$tmp/b" --epochs 2 >/dev/null 2>"$tmp/err"
check "a non-empty run folder without --force exits 2" [ $? -eq 2 ]
check "  and mentions --force" grep -q -- "--force" "$tmp/err"
"$VAE" train --data "$data" --threads 1 --out "$tmp/b" --resume --force --epochs 2 >/dev/null 2>"$tmp/err"
check "--resume with --force exits 2" [ $? -eq 2 ]
echo "not a checkpoint" >"$tmp/b/model.safetensors"
train --out "$tmp/b" --epochs 2 --force >/dev/null 2>"$tmp/err"
check "--force starts over and exits 0" [ $? -eq 0 ]
check "--force: the new run is byte-identical to a fresh one" cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"

finish
