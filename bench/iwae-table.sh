#!/usr/bin/env bash
# bench/iwae-table.sh: Burda, Grosse and Salakhutdinov (2015), "Importance Weighted Autoencoders", Table 1,
# one stochastic layer, on dynamically binarized MNIST: 784-200-200-50 with tanh, Adam (0.9, 0.999, eps 1e-4),
# batch 20, 3^i epochs at learning rate 0.001 * 10^(-i/7) for i = 0..7 (3,280 epochs in all), test NLL by
# the k = 5000 importance-weighted estimate. The paper: 86.76 nats for the VAE (k = 1), 85.54 for IWAE (k = 5).
#
#   bench/iwae-table.sh [PASSES] [K] [OUT]
#     PASSES  last i of the schedule to run (7: the full 3,280 epochs; 5: 364 epochs)   default 7
#     K       training samples: 1 trains the VAE (ELBO), K > 1 the IWAE objective      default 1
#     OUT     run folder                                                               default runs/iwae-k$K-i$PASSES
# THREADS in the environment sets --threads (default 2). At batch 20 two threads train only 1.15 times as
# fast as one (docs/results.md), so THREADS=1 costs little and leaves the other core free.
# Re-running continues an interrupted run (--resume). Prints the schedule, the training time, and the test
# NLL (k = 5000) and negative ELBO as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
passes=${1:-7}
k=${2:-1}
out=${3:-runs/iwae-k$k-i$passes}
threads=${THREADS:-2}
schedule=$(python3 -c "print(','.join(f'{3**i}:{0.001 * 10 ** (-i / 7):.6g}' for i in range($passes + 1)))")
epochs=$(python3 -c "print(sum(3**i for i in range($passes + 1)))")
echo "schedule (epochs:rate): $schedule  ($epochs epochs)"
iwae=()
[ "$k" -gt 1 ] && iwae=(--iwae-k "$k")
resume=()
[ -f "$out/train-state.safetensors" ] && resume=(--resume)
start=$(date +%s)
build/vae train --data data/mnist --out "$out" --hidden 200,200 --latent 50 --activation tanh --binarize dynamic \
    --batch 20 --adam-eps 1e-4 --lr-schedule "$schedule" --epochs "$epochs" --seed 1 --threads "$threads" \
    --save-every 10 "${iwae[@]}" "${resume[@]}"
end=$(date +%s)
echo "training: $((end - start)) s for this sitting"
build/vae eval --model "$out/model.safetensors" --data data/mnist --iwae-k 5000 --threads "$threads" | tee "$out/eval-k5000.json"
