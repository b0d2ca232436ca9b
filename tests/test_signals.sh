#!/usr/bin/env bash
# test_signals.sh: SIGINT and SIGTERM during `vae train` lose nothing.
#
# On synthetic data (6000 training and 500 test images of 28x28, random pixels; a 784-64-8 VAE with batch
# 32: a few hundred milliseconds an epoch):
#   1. SIGINT during training: exit 130 within a second, one message saying how to resume (the exact
#      command), a model.safetensors that `vae eval` loads, and `--resume` finishes the interrupted epoch
#      (exit 0, metrics.jsonl then holds epochs 1..N once each, in order);
#   2. SIGTERM: the same with exit 143;
#   3. SIGINT while the epoch's checkpoints are being written (VAE_TEST_PAUSE_IN_WRITE, the test hook of
#      src/safetensors.c, holds each write 0.3 s before its rename): the writes finish, exit 130 with
#      "after epoch N", and --resume continues;
#   4. a second SIGINT while the first one's checkpoint is being written (the hook holds it 5 s): exit 130
#      at once (well under a second), and what is on disk still loads and resumes.
#
# Needs VAE and ROOT in the environment (scripts/run-tests sets them). Prints "N passed, N failed" last;
# exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
need_vae

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_signals.XXXXXX")"
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

D="$tmp/data"
mkdir -p "$D"
python3 - "$D" <<'EOF' || { fail "python3 could not write the data"; finish; }
import random, struct, sys
r = random.Random(5)
def images(path, n, h, w):
    open(path, "wb").write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, h, w) + r.randbytes(n * h * w))
images(sys.argv[1] + "/train-images-idx3-ubyte", 6000, 28, 28)
images(sys.argv[1] + "/t10k-images-idx3-ubyte", 500, 28, 28)
EOF
FLAGS=(--hidden 64 --latent 8 --batch 32 --threads 1)

now() { date +%s.%N; }
elapsed_below() { awk -v a="$1" -v b="$2" -v lim="$3" 'BEGIN { exit !(b - a < lim) }'; }
# wait_for FILE PATTERN SECONDS: until FILE holds a line matching PATTERN (0) or time runs out (1)
wait_for() {
    local i
    for ((i = 0; i < $3 * 50; i++)); do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}
# wait_for_tmp RUN SECONDS: until a temporary checkpoint file exists in RUN
wait_for_tmp() {
    local i
    for ((i = 0; i < $2 * 100; i++)); do
        compgen -G "$1/*.safetensors.tmp-*" >/dev/null && return 0
        sleep 0.01
    done
    return 1
}
# state_epoch FILE: "EPOCH NEXT_BATCH" from a train-state.safetensors
state_epoch() { state_counters "$1" | cut -d" " -f2,3; }
loads() { "$VAE" eval --model "$1/model.safetensors" --data "$D" --n 100 --threads 1 >/dev/null; }

# start RUN [extra flags]: vae train in the background; its stdout and stderr go to RUN.out and RUN.err
start() {
    local run="$1"
    shift
    "$VAE" train --data "$D" --out "$run" "${FLAGS[@]}" "$@" >"$run.out" 2>"$run.err" &
    pid=$!
    wait_for "$run.out" "^model:" 30 || { fail "$run: training did not start: $(tail -n 3 "$run.err")"; return 1; }
}
# stop SIGNAL: send it, wait for the exit; sets rc and secs (signal to exit)
stop() {
    local t0 t1
    t0=$(now)
    kill -s "$1" "$pid"
    wait "$pid"
    rc=$?
    t1=$(now)
    pid=""
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# resume_check RUN: after a stop, the run loads, and --resume finishes the epoch it was in (or the next)
resume_check() {
    local run="$1" e b want
    check "$run: model.safetensors loads" loads "$run"
    read -r e b < <(state_epoch "$run/train-state.safetensors") || { fail "$run: no training state"; return; }
    want=$((e + 1))
    if "$VAE" train --data "$D" --out "$run" --resume --epochs "$want" --threads 1 >"$run.resume.out" 2>"$run.resume.err"; then
        ok
    else
        fail "$run: --resume --epochs $want failed: $(tail -n 2 "$run.resume.err")"
    fi
    check "$run: metrics.jsonl after --resume" metrics_ok "$run" "$want"
    check "$run: model.safetensors loads after --resume" loads "$run"
    check "$run: no temporary files left (--resume removes those of a killed write)" \
        bash -c "! compgen -G '$run/*.safetensors.tmp-*' >/dev/null"
}

# 1. SIGINT in the middle of training
R="$tmp/int"
if start "$R" --epochs 1000; then
    sleep 0.7
    stop INT
    check "SIGINT: exit $rc, expected 130" [ "$rc" -eq 130 ]
    check "SIGINT: exit after $secs s, expected under 1 s" elapsed_below 0 "$secs" 1.0
    msg="$(grep "stopped by signal" "$R.err")"
    check "SIGINT: message '$msg' says how to resume" \
        grep -Eq "stopped by signal 2 (in epoch [0-9]+ \(batch [0-9]+ of [0-9]+\)|after epoch [0-9]+); saved .*train-state.safetensors\. Continue with: vae train --data $D --out $R --resume --epochs 1000" "$R.err"
    echo "SIGINT: exit $rc after $secs s: $msg"
    resume_check "$R"
fi

# 2. SIGTERM
R="$tmp/term"
if start "$R" --epochs 1000; then
    sleep 0.5
    stop TERM
    check "SIGTERM: exit $rc, expected 143" [ "$rc" -eq 143 ]
    check "SIGTERM: exit after $secs s, expected under 1 s" elapsed_below 0 "$secs" 1.0
    check "SIGTERM: message" grep -Eq "stopped by signal 15 .*Continue with: vae train .* --resume --epochs 1000" "$R.err"
    resume_check "$R"
fi

# 3. SIGINT while the checkpoints of an epoch are written: they complete, then exit 130 "after epoch N"
R="$tmp/inwrite"
if VAE_TEST_PAUSE_IN_WRITE=0.3 start "$R" --epochs 1000; then
    if wait_for_tmp "$R" 20; then
        stop INT
        check "SIGINT in a write: exit $rc, expected 130" [ "$rc" -eq 130 ]
        check "SIGINT in a write: says after epoch 1" grep -Eq "stopped by signal 2 after epoch 1; saved" "$R.err"
        check "SIGINT in a write: the epoch's metrics line is written" metrics_ok "$R" 1
        resume_check "$R"
    else
        fail "SIGINT in a write: no checkpoint write seen"
        kill -9 "$pid"
    fi
fi

# 4. A second SIGINT while the first one's checkpoint is being written: exit at once
R="$tmp/twice"
"$VAE" train --data "$D" --out "$R" "${FLAGS[@]}" --epochs 1 >/dev/null 2>&1 || fail "twice: first epoch failed"
if VAE_TEST_PAUSE_IN_WRITE=5 start "$R" --resume --epochs 1000; then
    sleep 0.1
    kill -INT "$pid"
    if wait_for_tmp "$R" 10; then
        stop INT
        check "second SIGINT: exit $rc, expected 130" [ "$rc" -eq 130 ]
        check "second SIGINT: exit after $secs s, expected at once (under 1 s, the write pauses 5 s)" \
            elapsed_below 0 "$secs" 1.0
        echo "second SIGINT: exit $rc after $secs s"
        check "second SIGINT: the interrupted write left its temporary file" bash -c "compgen -G '$R/*.safetensors.tmp-*' >/dev/null"
        resume_check "$R"
    else
        fail "second SIGINT: no checkpoint write seen after the first SIGINT"
        kill -9 "$pid"
    fi
fi
finish
