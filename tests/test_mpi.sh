#!/usr/bin/env bash
# test_mpi.sh: data-parallel training with build/vae-mpi under mpirun (docs/scale.md).
#
# On synthetic data (960 training and 200 test images of 12x12, a 144-32-4 VAE, global batch 32: 30 steps an
# epoch, a fraction of a second):
#   1. `vae train --noise keyed` and `mpirun -np 1 vae-mpi train` write the same bytes (one code path);
#   2. mpirun -np 2 at the same global batch: after the 30 steps every parameter within 1e-4 of the 1-rank run,
#      the two ranks' parameters bit-identical (the hash each prints), metrics.jsonl records "ranks": 2;
#      the same with --accumulate 2, and with 3 ranks (uneven shares of a batch);
#   3. --noise stream with 2 ranks is refused; a rank that cannot read its data stops the job before
#      training, and the error names the rank and the file;
#   4. SIGINT to mpirun: every rank stops at the same step, rank 0 saves, --resume under mpirun finishes with
#      each epoch's metrics once;
#   5. a rank killed with SIGKILL ends the job within 10 s, and --resume continues from the last save;
# and where run as root with iproute2: 2 ranks on 2 simulated hosts (scripts/mpi-netns, TCP at 1 Gbit/s)
# write the model of 2 ranks on one host, and leave no namespace behind.
# Skips (one line) where Open MPI's mpirun is not installed; fails when it is but build/vae-mpi is missing.
# Needs VAE and ROOT in the environment (scripts/run-tests sets them). Prints "N passed, N failed" last.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip: Open MPI's mpirun is not installed (scripts/setup installs openmpi-bin and libopenmpi-dev)"
    finish
fi
need_vae
MPI_VAE="$(dirname "$VAE")/vae-mpi"
[ -x "$MPI_VAE" ] || { fail "mpirun is installed but $MPI_VAE is not built"; finish; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_mpi.XXXXXX")"
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# shared memory between the ranks, no binding (the machine may be busy), 3 s for rank 0 to save after Ctrl-C
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl self,vader --mca odls_base_sigkill_timeout 3
    -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)

D="$tmp/data"
mkdir -p "$D"
python3 - "$D" <<'EOF' || { fail "python3 could not write the data"; finish; }
import random, struct, sys
r = random.Random(5)
def images(path, n, h, w):
    px = bytes(r.choice((0, 0, 0, 64, 200, 255)) for _ in range(n * h * w))
    open(path, "wb").write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, h, w) + px)
images(sys.argv[1] + "/train-images-idx3-ubyte", 960, 12, 12)
images(sys.argv[1] + "/t10k-images-idx3-ubyte", 200, 12, 12)
EOF
FLAGS=(--data "$D" --hidden 32 --latent 4 --batch 32 --threads 1 --seed 3)

# max_diff A B: the largest difference between two model.safetensors' parameters
max_diff() {
    python3 - "$1" "$2" <<'EOF'
import json, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        o = v["data_offsets"]
        out[k] = struct.unpack("<%df" % ((o[1] - o[0]) // 4), b[8 + n + o[0]:8 + n + o[1]])
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys()
print("%.3g" % max(abs(x - y) for k in a for x, y in zip(a[k], b[k])))
EOF
}
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
# hashes_agree ERRFILE RANKS: each rank printed the same parameter hash
hashes_agree() {
    local n
    n="$(grep -E "rank [0-9]+: parameters after epoch 1: fnv1a64" "$1" | awk '{print $NF}' | sort | uniq -c)"
    [ "$(wc -l <<<"$n")" -eq 1 ] && [ "$(awk '{print $1}' <<<"$n")" -eq "$2" ]
}

# 1. one code path
"$VAE" train "${FLAGS[@]}" --epochs 1 --noise keyed --out "$tmp/k" >/dev/null 2>"$tmp/k.err" || fail "vae --noise keyed: $(tail -n 2 "$tmp/k.err")"
"${MPIRUN[@]}" -np 1 "$MPI_VAE" train "${FLAGS[@]}" --epochs 1 --out "$tmp/n1" >/dev/null 2>"$tmp/n1.err" ||
    fail "mpirun -np 1: $(tail -n 2 "$tmp/n1.err")"
check "vae --noise keyed and mpirun -np 1 vae-mpi write the same model" cmp -s "$tmp/k/model.safetensors" "$tmp/n1/model.safetensors"

# 2. N = 2 (and 3, and --accumulate 2) against N = 1 at the same global batch
for run in "n2 -np 2" "acc -np 2 --accumulate 2" "n3 -np 3"; do
    set -- $run
    name="$1" np="$3"
    shift 3
    if VAE_PRINT_PARAM_HASH=1 "${MPIRUN[@]}" -x VAE_PRINT_PARAM_HASH -np "$np" "$MPI_VAE" train "${FLAGS[@]}" --epochs 1 "$@" \
        --out "$tmp/$name" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
        d="$(max_diff "$tmp/n1/model.safetensors" "$tmp/$name/model.safetensors")"
        echo "$name ($np ranks $*): largest parameter difference from 1 rank after 30 steps: $d"
        check "$name: parameters within 1e-4 of 1 rank's (largest difference $d)" below "$d" 1e-4
        check "$name: the $np ranks' parameters are bit-identical" hashes_agree "$tmp/$name.err" "$np"
        check "$name: metrics.jsonl records $np ranks" grep -q "\"ranks\": $np" "$tmp/$name/metrics.jsonl"
    else
        fail "$name: mpirun -np $np failed: $(tail -n 3 "$tmp/$name.err")"
    fi
done

# 3. refusals before training
"${MPIRUN[@]}" -np 2 "$MPI_VAE" train "${FLAGS[@]}" --noise stream --out "$tmp/stream" >/dev/null 2>"$tmp/stream.err"
check "--noise stream with 2 ranks: refused" grep -q "need --noise keyed" "$tmp/stream.err"
mkdir -p "$tmp/bad"
"${MPIRUN[@]}" -np 1 "$MPI_VAE" train "${FLAGS[@]}" --out "$tmp/baddata" : \
    -np 1 "$MPI_VAE" train "${FLAGS[@]/$D/$tmp/bad}" --out "$tmp/baddata" >/dev/null 2>"$tmp/baddata.err"
rc=$?
check "a rank without data: the job fails (exit $rc)" [ "$rc" -ne 0 ]
check "a rank without data: the error names rank 1 and its folder" grep -q "vae train (rank 1): .*$tmp/bad" "$tmp/baddata.err"
check "a rank without data: stopped before training (no model written)" [ ! -e "$tmp/baddata/model.safetensors" ]

# start RUN FLAGS...: mpirun -np 2 in the background, until rank 0's progress shows
start() {
    local run="$1" i
    shift
    "${MPIRUN[@]}" -np 2 "$MPI_VAE" train "${FLAGS[@]}" --out "$run" "$@" >"$run.out" 2>"$run.err" &
    pid=$!
    for ((i = 0; i < 1500; i++)); do
        grep -q "^epoch 2/" "$run.out" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.02
    done
    fail "$run: training did not get going: $(tail -n 3 "$run.err")"
    return 1
}
now() { date +%s.%N; }
resume() { # resume RUN EPOCHS: --resume under mpirun finishes, metrics once per epoch
    "${MPIRUN[@]}" -np 2 "$MPI_VAE" train "${FLAGS[@]}" --out "$1" --resume --epochs "$2" >"$1.resume.out" 2>"$1.resume.err"
    check "$1: --resume under mpirun exits 0" [ $? -eq 0 ]
    check "$1: metrics.jsonl holds each epoch once after --resume" metrics_ok "$1" "$2"
}

# 4. Ctrl-C
R="$tmp/int"
if start "$R" --epochs 1000; then
    kill -INT "$pid"
    wait "$pid"
    pid=""
    check "SIGINT: both ranks stopped and rank 0 saved" grep -Eq "stopped by signal 15 (in|after) epoch" "$R.err"
    check "SIGINT: training state written" [ -f "$R/train-state.safetensors" ]
    e="$(state_counters "$R/train-state.safetensors" | cut -d' ' -f2)"
    resume "$R" $((e + 2))
fi

# 4b. two simulated hosts (network namespaces, TCP between them), where this machine allows it
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && command -v unshare >/dev/null && ip netns list >/dev/null 2>&1; then
    before="$(ip netns list | sort)"
    "$ROOT/scripts/mpi-netns" --rate 1gbit --mpirun-arg -x --mpirun-arg OMP_NUM_THREADS -- "$MPI_VAE" train "${FLAGS[@]}" \
        --epochs 1 --out "$tmp/netns" >/dev/null 2>"$tmp/netns.err"
    check "scripts/mpi-netns: 2 ranks on 2 simulated hosts train (exit $?)" grep -q '"ranks": 2' "$tmp/netns/metrics.jsonl"
    check "scripts/mpi-netns: the same model as on one host" cmp -s "$tmp/n2/model.safetensors" "$tmp/netns/model.safetensors"
    check "scripts/mpi-netns: no namespace left behind" [ "$(ip netns list | sort)" = "$before" ]
else
    echo "scripts/mpi-netns not tried: needs root and iproute2 (network namespaces)"
fi

# 5. a rank killed
R="$tmp/kill"
if start "$R" --epochs 1000; then
    victim="$(pgrep -f "vae-mpi train.*--out $R" | tail -n 1)"
    t0=$(now)
    kill -9 "$victim"
    for ((i = 0; i < 250; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    wait "$pid"
    rc=$?
    pid=""
    echo "a rank killed: mpirun exited $rc after $secs s"
    check "a rank killed: the job ends within 10 s (took $secs s)" below "$secs" 10
    check "a rank killed: mpirun fails (exit $rc)" [ "$rc" -ne 0 ]
    e="$(state_counters "$R/train-state.safetensors" | cut -d' ' -f2)"
    resume "$R" $((e + 2))
fi
finish
