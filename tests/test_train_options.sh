#!/usr/bin/env bash
# tests/test_train_options.sh: vae train's --val with --patience (early stopping, best.safetensors),
# --clip-grad and --weight-decay end to end on tests/fixtures/tiny-idx (3 images), each recorded in the
# checkpoints' metadata and honoured by --resume.
#
#   VAE=build/vae ROOT=. bash tests/test_train_options.sh     (scripts/run-tests sets both)
#
# Last line: "N passed, N failed"; the exit status is non-zero when anything failed.
set -uo pipefail

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
VAE="${VAE:-$ROOT/build/vae}"
DATA="$ROOT/tests/fixtures/tiny-idx"
source "$ROOT/tests/shell-lib.bash"
need_vae
use_tmp test_train_options
run() { "$VAE" train --data "$DATA" --hidden 8 --latent 2 --batch 2 --threads 1 "$@" >"$T/out" 2>"$T/err"; }
meta() { # meta FILE KEY: a string of the safetensors file's __metadata__
    python3 -c 'import json,struct,sys; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; print(json.loads(b[8:8+n])["__metadata__"][sys.argv[2]])' "$1" "$2"
}

# a learning rate too small to move any parameter: val_loss never improves after epoch 1, so --patience 2
# stops after epoch 3, with epoch 1's model as best.safetensors
check "early stop" run --out "$T/es" --val 1 --patience 2 --epochs 10 --lr 1e-12
check "early stop said on stderr" grep -q "early stop after epoch 3" "$T/err"
check "metrics of epochs 1..3" metrics_ok "$T/es" 3
check "best.safetensors kept" [ -s "$T/es/best.safetensors" ]
check "best.safetensors loads" bash -c "\"$VAE\" eval --model \"$T/es/best.safetensors\" --data \"$DATA\" --threads 1 >/dev/null"
check "patience in the metadata" [ "$(meta "$T/es/train-state.safetensors" train.patience)" = 2 ]
check "resume after the early stop trains nothing" run --out "$T/es" --resume --epochs 10
check "and says why" grep -q "already stopped early" "$T/err"
check "still epochs 1..3" metrics_ok "$T/es" 3
# a real learning rate: val_loss improves and best.safetensors follows the last improvement
check "val and patience with learning" run --out "$T/learn" --val 1 --patience 3 --epochs 4 --lr 1e-2
check "4 epochs" metrics_ok "$T/learn" 4
check "best.safetensors" [ -s "$T/learn/best.safetensors" ]

# clipping and decay: recorded, kept on --resume, conflicts refused
check "clip and decay" run --out "$T/cd" --clip-grad 0.5 --weight-decay 0.01 --epochs 2
check "clip in the metadata" [ "$(meta "$T/cd/model.safetensors" train.clip_grad)" = 0.5 ]
check "decay in the metadata" [ "$(meta "$T/cd/model.safetensors" train.weight_decay)" = 0.01 ]
check "resume keeps both" run --out "$T/cd" --resume --epochs 3
check "3 epochs" metrics_ok "$T/cd" 3
# the decay shrinks the weights: a run with a strong decay ends with a smaller parameter norm
norm() { python3 -c 'import json,struct,sys,array; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; h=json.loads(b[8:8+n]); t=h["dec.out.weight"]["data_offsets"]; a=array.array("f"); a.frombytes(b[8+n+t[0]:8+n+t[1]]); print(sum(x*x for x in a))' "$1"; }
check "plain run" run --out "$T/p0" --epochs 3 --lr 1e-2
check "decayed run" run --out "$T/p1" --epochs 3 --lr 1e-2 --weight-decay 10
check "decay shrinks the decoder's weights" python3 -c "import sys; sys.exit(0 if $(norm "$T/p1/model.safetensors") < 0.9 * $(norm "$T/p0/model.safetensors") else 1)"

bad() { # bad NAME WORD ARGS...: exit 2 with WORD on stderr
    local name="$1" word="$2" rc
    shift 2
    run "$@"
    rc=$?
    if [ "$rc" -eq 2 ] && grep -qF -- "$word" "$T/err"; then ok; else fail "$name: exit $rc, stderr: $(head -c 300 "$T/err")"; fi
}
bad "--patience without --val" "--val" --out "$T/b1" --patience 2 --epochs 2
bad "--clip-grad conflicting with the run resumed" "--clip-grad" --out "$T/cd" --resume --epochs 4 --clip-grad 1
bad "--weight-decay conflicting with the run resumed" "--weight-decay" --out "$T/cd" --resume --epochs 4 --weight-decay 0
bad "--patience conflicting with the run resumed" "--patience" --out "$T/es" --resume --epochs 10 --patience 5
bad "--weight-decay of 1 / lr" "--weight-decay" --out "$T/b2" --weight-decay 1000 --epochs 1
bad "negative --clip-grad" "--clip-grad" --out "$T/b3" --clip-grad -1 --epochs 1
finish
