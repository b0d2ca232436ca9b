#!/usr/bin/env bash
# test_crash.sh: `vae train` killed at any moment, or stopped by a NaN, loses nothing it had saved.
#
# 1. SIGKILL at random moments: a tiny VAE (64-16-2, 512 images of 8x8, batch 16, --save-every 1: an epoch
#    takes milliseconds, so kills land in training steps, evaluation, checkpoint and metrics writes alike)
#    is killed CRASH_KILLS times (default 20) at a random moment 0-1.2 s after it starts; each round
#    continues the run of the round before with --resume (or starts it over when nothing was saved yet).
#    After each kill: model.safetensors, when present, loads (`vae eval` exits 0); when a training state is
#    present, `--resume` for one more epoch exits 0, leaves metrics.jsonl with epochs 1..N once each, and
#    a model that loads.
# 2. SIGKILL inside checkpoint writes: VAE_TEST_PAUSE_IN_WRITE (the test hook of src/safetensors.c) holds
#    every write between its complete temporary file and the rename; the test kills the process there,
#    CRASH_WRITE_KILLS times (default 6, alternating model.safetensors and train-state.safetensors), and
#    checks the same, and that the old file was left intact by the interrupted write.
# 3. A NaN stop: Gaussian data with a few values of 1e19 trains one epoch at lr 1e-3, then the schedule
#    jumps to lr 9.9 and the loss overflows in epoch 2. The run must exit 1 naming the step and what is
#    not finite, keep epoch 1's checkpoint (byte-identical to a run of --epochs 1) and suggest a cause;
#    that checkpoint loads with `vae eval`.
# Prints the figures (kills, how many found a model and a state, leftover temporary files) on stdout.
#
# Needs VAE and ROOT in the environment (scripts/run-tests sets them). Prints "N passed, N failed" last;
# exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
KILLS="${CRASH_KILLS:-20}"
WRITE_KILLS="${CRASH_WRITE_KILLS:-6}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
need_vae

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_crash.XXXXXX")"
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

D="$tmp/data"
N="$tmp/nan-data"
mkdir -p "$D" "$N"
python3 - "$D" "$N" <<'EOF' || { fail "python3 could not write the data"; finish; }
import random, struct, sys
r = random.Random(7)
def images(path, n, h, w):
    open(path, "wb").write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, h, w) + r.randbytes(n * h * w))
images(sys.argv[1] + "/train-images-idx3-ubyte", 512, 8, 8)
images(sys.argv[1] + "/t10k-images-idx3-ubyte", 64, 8, 8)
def floats(path, n, h, w):
    v = [r.random() for _ in range(n * h * w)]
    for i in range(0, len(v), 37):
        v[i] = 1e19
    open(path, "wb").write(bytes([0, 0, 0x0D, 3]) + struct.pack(">III", n, h, w) + struct.pack(">%df" % len(v), *v))
floats(sys.argv[2] + "/train-images-idx3-ubyte", 64, 4, 5)
floats(sys.argv[2] + "/t10k-images-idx3-ubyte", 16, 4, 5)
EOF
FLAGS=(--hidden 16 --latent 2 --batch 16 --threads 1 --save-every 1)
R="$tmp/run"

# state_epoch FILE: the epoch count of a train-state.safetensors
state_epoch() { state_counters "$1" | cut -d" " -f2; }
loads() { "$VAE" eval --model "$1" --data "$D" --threads 1 >/dev/null 2>"$tmp/eval.err"; }

n_model=0 n_state=0 n_tmp=0 n_resumed=0
# after_kill WHAT: the checks after one kill
after_kill() {
    local what="$1" e
    if [ -e "$R/model.safetensors" ]; then
        n_model=$((n_model + 1))
        if loads "$R/model.safetensors"; then ok; else fail "$what: model.safetensors does not load: $(cat "$tmp/eval.err")"; fi
    fi
    if compgen -G "$R/*.safetensors.tmp-*" >/dev/null; then
        n_tmp=$((n_tmp + $(compgen -G "$R/*.safetensors.tmp-*" | wc -l)))
    fi
    [ -e "$R/train-state.safetensors" ] || return 0
    n_state=$((n_state + 1))
    e=$(state_epoch "$R/train-state.safetensors") || { fail "$what: train-state.safetensors unreadable"; return; }
    if "$VAE" train --data "$D" --out "$R" --resume --epochs $((e + 1)) --threads 1 >"$tmp/resume.out" 2>"$tmp/resume.err"; then
        ok
        n_resumed=$((n_resumed + 1))
        check "$what: metrics.jsonl after --resume" metrics_ok "$R" $((e + 1))
        check "$what: model.safetensors after --resume" loads "$R/model.safetensors"
        check "$what: --resume removed the temporary files of killed writes" \
            bash -c "! compgen -G '$R/*.safetensors.tmp-*' >/dev/null"
    else
        fail "$what: --resume --epochs $((e + 1)) failed: $(tail -n 2 "$tmp/resume.err")"
    fi
}
# launch [env...]: vae train in the background, continuing the run when it has a training state
launch() {
    local mode=(--force)
    [ -e "$R/train-state.safetensors" ] && mode=(--resume)
    env "$@" "$VAE" train --data "$D" --out "$R" "${FLAGS[@]}" --epochs 1000000 "${mode[@]}" >/dev/null 2>"$tmp/train.err" &
    pid=$!
}
kill9() {
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
}

# 1. random moments
RANDOM=$$
t_start=$(date +%s)
for ((k = 1; k <= KILLS; k++)); do
    launch
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", r / 32768 * 1.2 }')"
    kill9
    after_kill "kill $k"
done
echo "random kills: $KILLS; model.safetensors present after $n_model, loaded every time;" \
    "train-state.safetensors present after $n_state, --resume exit 0 $n_resumed times;" \
    "temporary files left by killed writes (removed by the next --resume): $n_tmp; $(($(date +%s) - t_start)) s"

# 2. inside checkpoint writes
n_model=0 n_state=0 n_tmp=0 n_resumed=0
for ((k = 1; k <= WRITE_KILLS; k++)); do
    target=model.safetensors
    [ $((k % 2)) -eq 0 ] && target=train-state.safetensors
    before=""
    [ -e "$R/$target" ] && before="$(cksum <"$R/$target")"
    launch VAE_TEST_PAUSE_IN_WRITE=2
    seen=0
    for ((i = 0; i < 1000; i++)); do # up to 10 s
        compgen -G "$R/$target.tmp-*" >/dev/null && { seen=1; break; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
    kill9
    if [ "$seen" -eq 1 ]; then ok; else fail "write kill $k: no write of $target seen"; fi
    if [ -n "$before" ]; then
        check "write kill $k: $target untouched by the interrupted write" [ "$before" = "$(cksum <"$R/$target")" ]
    fi
    after_kill "write kill $k ($target)"
done
echo "kills inside writes: $WRITE_KILLS; model.safetensors loaded after $n_model, --resume exit 0 $n_resumed times;" \
    "temporary files left: $n_tmp"

# 3. NaN stop
nan_flags=(--data "$N" --likelihood gaussian --hidden 8 --latent 2 --batch 8 --threads 1 --lr-schedule 1:1e-3,1:9.9)
"$VAE" train "${nan_flags[@]}" --out "$tmp/nan1" --epochs 1 >/dev/null 2>&1 || fail "NaN: the first epoch alone fails"
"$VAE" train "${nan_flags[@]}" --out "$tmp/nan" --epochs 5 >"$tmp/nan.out" 2>"$tmp/nan.err"
rc=$?
msg="$(grep -v "batches," "$tmp/nan.err")"
check "NaN: exit $rc, expected 1 ($msg)" [ "$rc" -eq 1 ]
check "NaN: message names the step (after epoch 1's 8) and the loss or tensor: $msg" \
    grep -Eq "^vae train: step (9|[1-9][0-9]+): (the loss is [-a-z]+ \(reconstruction|the gradient of [a-z.0-9]+ is not finite)" "$tmp/nan.err"
check "NaN: message keeps the last good checkpoint and suggests a cause: $msg" \
    grep -Eq "stopping\. .*nan/model\.safetensors holds the last good checkpoint\. (A learning rate too high \(--lr 9\.9\)|The batch holds values up to 1e\+19 .* The learning rate \(--lr 9\.9\) is high too)" "$tmp/nan.err"
check "NaN: model.safetensors is epoch 1's (same bytes as a 1-epoch run)" cmp -s "$tmp/nan/model.safetensors" "$tmp/nan1/model.safetensors"
check "NaN: metrics.jsonl holds epoch 1 only" metrics_ok "$tmp/nan" 1
if "$VAE" eval --model "$tmp/nan/model.safetensors" --data "$N" --threads 1 >/dev/null 2>"$tmp/eval.err"; then ok; else
    fail "NaN: the kept checkpoint does not load: $(cat "$tmp/eval.err")"
fi
echo "NaN stop: exit $rc: $msg"
finish
