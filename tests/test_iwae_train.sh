#!/usr/bin/env bash
# test_iwae_train.sh: `vae train --iwae-k K` from the command line.
#
# On a subset of real MNIST (data/mnist: 2000 training, 500 test images), a 784-32-4 VAE with batch 20:
#   - --iwae-k 5 trains an epoch, says so, and metrics.jsonl holds train_loss (the bound) and test_loss
#     (still the negative ELBO: test_recon + test_kl);
#   - the training state records k, --resume keeps it without the flag (1 epoch + resume gives the same
#     bytes as 2 epochs in one go), and refuses another k;
#   - bad values exit 2 naming --iwae-k: negative, not a number, with --ae, batch * K too many rows.
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_iwae_train.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# field FILE LINE KEY: the number after "KEY": on line LINE of a metrics file
field() { sed -n "$2p" "$1" | sed -n "s/.*\"$3\": \([-0-9.eE+a-z]*\).*/\1/p"; }
# finite X: X is a finite number
finite() { awk -v x="$1" 'BEGIN { exit !(x != "" && x + 0 == x && x == x && x < 1e30 && x > -1e30) }'; }
# absent PATTERN FILE: FILE has no line matching PATTERN
absent() { ! grep -q -- "$1" "$2"; }
# state_k DIR: the k recorded in DIR's training state (its safetensors header is JSON)
state_k() { grep -a -o '"train.iwae_k": *"[0-9]*"' "$1/train-state.safetensors" | sed 's/.*"\([0-9]*\)"$/\1/'; }

need_vae
need_mnist
data="$tmp/mnist"
subset "$ROOT/data/mnist" "$data" 2000 500
base=(--data "$data" --hidden 32 --latent 4 --threads 1 --seed 3)
args=("${base[@]}" --batch 20)

# ---------------------------------------------------------------- one epoch, then resume

"$VAE" train "${args[@]}" --out "$tmp/a" --iwae-k 5 --epochs 1 >"$tmp/a.out" 2>"$tmp/a.err"
check "--iwae-k 5 --epochs 1 exits 0 ($(tail -n 1 "$tmp/a.err"))" [ $? -eq 0 ]
check "stdout names the objective and k" grep -q "importance-weighted bound, k = 5" "$tmp/a.out"
m="$tmp/a/metrics.jsonl"
check "metrics.jsonl has one line" [ "$(wc -l <"$m" 2>/dev/null)" = "1" ]
tr_loss=$(field "$m" 1 train_loss) te_loss=$(field "$m" 1 test_loss)
te_recon=$(field "$m" 1 test_recon) te_kl=$(field "$m" 1 test_kl)
check "train_loss is a finite number ($tr_loss)" finite "$tr_loss"
check "test_loss is a finite number ($te_loss)" finite "$te_loss"
check "the bound was learnt: train_loss $tr_loss below 400 nats" awk -v x="$tr_loss" 'BEGIN { exit !(x < 400 && x > 50) }'
check "test_loss $te_loss is the negative ELBO: test_recon $te_recon + test_kl $te_kl" \
    awk -v l="$te_loss" -v r="$te_recon" -v k="$te_kl" 'BEGIN { d = l - r - k; exit !(d < 1e-3 && d > -1e-3) }'
check "the training state records k = 5" [ "$(state_k "$tmp/a")" = "5" ]

"$VAE" train --data "$data" --threads 1 --out "$tmp/a" --resume --epochs 2 >"$tmp/a2.out" 2>"$tmp/a2.err"
check "--resume --epochs 2 exits 0 ($(tail -n 1 "$tmp/a2.err"))" [ $? -eq 0 ]
check "--resume keeps k = 5 without the flag" grep -q "importance-weighted bound, k = 5" "$tmp/a2.out"
check "  and records it again" [ "$(state_k "$tmp/a")" = "5" ]
check "metrics.jsonl holds epochs 1 and 2" \
    [ "$(sed -n 's/.*"epoch": \([0-9]*\),.*/\1/p' "$m" | tr '\n' ' ')" = "1 2 " ]
check "epoch 2's train_loss is finite" finite "$(field "$m" 2 train_loss)"
"$VAE" train "${args[@]}" --out "$tmp/c" --iwae-k 5 --epochs 2 >/dev/null 2>"$tmp/c.err"
check "2 epochs in one go exit 0" [ $? -eq 0 ]
check "1 epoch + --resume to 2: model.safetensors byte-identical to 2 in one go" \
    cmp -s "$tmp/a/model.safetensors" "$tmp/c/model.safetensors"
cp "$tmp/a/model.safetensors" "$tmp/a.model"
"$VAE" train --data "$data" --threads 1 --out "$tmp/a" --resume --epochs 3 --iwae-k 3 >/dev/null 2>"$tmp/err"
check "--resume with another --iwae-k exits 2" [ $? -eq 2 ]
check "  and names --iwae-k" grep -q -- "--iwae-k" "$tmp/err"
check "  and leaves the model alone" cmp -s "$tmp/a.model" "$tmp/a/model.safetensors"

# without the flag: the ELBO, k = 0 recorded, no objective line
"$VAE" train "${args[@]}" --out "$tmp/b" --epochs 1 >"$tmp/b.out" 2>"$tmp/b.err"
check "plain training exits 0" [ $? -eq 0 ]
check "  records k = 0" [ "$(state_k "$tmp/b")" = "0" ]
check "  and prints no importance-weighted objective" absent "importance-weighted" "$tmp/b.out"

# ---------------------------------------------------------------- refusals

refuse() { # refuse "what" ARGS...: vae train ARGS (--batch 20 unless given) exits 2 with a message naming --iwae-k
    local what="$1"
    shift
    local batch=(--batch 20)
    [[ " $* " == *" --batch "* ]] && batch=()
    "$VAE" train "${base[@]}" "${batch[@]}" --out "$tmp/r" --epochs 1 "$@" >/dev/null 2>"$tmp/err"
    local rc=$?
    check "$what exits 2 (got $rc)" [ "$rc" -eq 2 ]
    check "  and names --iwae-k: $(head -n 1 "$tmp/err")" grep -q -- "--iwae-k" "$tmp/err"
    check "  and writes nothing" [ ! -e "$tmp/r/model.safetensors" ]
}
refuse "--iwae-k -1" --iwae-k -1
refuse "--iwae-k abc" --iwae-k abc
refuse "--iwae-k 5 --ae" --iwae-k 5 --ae
refuse "--iwae-k 2000000" --iwae-k 2000000
refuse "--batch 2000 --iwae-k 600 (1.2 million rows)" --batch 2000 --iwae-k 600

finish
