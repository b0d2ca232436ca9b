#!/usr/bin/env bash
# test_malformed.sh: bad input from the command line gives one clear error and exit 2, before any work.
#
# Data folders (built in a temporary folder by one python3 script; each case breaks one file of a good
# folder of 20 training and 10 test images of 4x5 with labels): empty file, truncated header, truncated
# body, wrong magic, trailing data, absurd sizes (2^31 images, 65536 x 65536 pixels, 32768 x 32768 pixels),
# zero sizes, unsupported types, image and label counts that disagree, train and test image sizes that
# disagree, corrupt and truncated .gz, a directory where a file should be, non-finite float pixels.
# Checkpoints (vae eval --model): empty, truncated, not safetensors, a directory, metadata that lies about
# the model's size. Flags: zero, negative and non-numeric values, unknown flags and subcommands, a batch
# larger than the training set and one larger than memory could hold.
# Each case must exit 2 with exactly one line on stderr naming the file (or flag) and the problem, leave
# --out uncreated, and (for lying headers) run under `ulimit -v 1000000` (1 GB of address space: a header
# that claims 2^31 - 1 images must not be believed before the data is there).
#
# Needs VAE and ROOT in the environment (scripts/run-tests sets them). With MALFORMED_TABLE=FILE it also
# writes a Markdown table of every case and its message (docs/results.md, "Reliability", has one).
# Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
need_vae
VAE="$(cd "$(dirname "$VAE")" && pwd)/$(basename "$VAE")"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_malformed.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
table="${MALFORMED_TABLE:-}"
[ -z "$table" ] || printf '| case | exit | message (stderr) |\n| --- | --- | --- |\n' >"$table"
# The lying-header cases run under `ulimit -v 1000000`; NO_VMEM_LIMIT=1 (for a binary built with ASan, which
# reserves terabytes of shadow address space) runs them without it, checking the same messages.
vmem_limit='ulimit -v 1000000'
[ -n "${NO_VMEM_LIMIT:-}" ] && vmem_limit=':'
# One BLAS/OpenMP thread: the ulimit -v cases must not fail on thread stacks.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# expect NAME PATTERN CMD...: exit 2, exactly one line on stderr, matching the extended regex PATTERN
# (which names the file or flag and the problem), nothing on stdout, and no run folder $tmp/out created.
expect() {
    local name="$1" pattern="$2" rc lines msg
    shift 2
    rm -rf "$tmp/out"
    "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    lines=$(wc -l <"$tmp/stderr")
    msg="$(head -c 400 "$tmp/stderr" | tr '\n' ' ')"
    if [ "$rc" -ne 2 ]; then
        fail "$name: exit $rc, expected 2; stderr: $msg"
    elif [ "$lines" -ne 1 ]; then
        fail "$name: $lines lines on stderr, expected one: $msg"
    elif ! grep -Eq -- "$pattern" "$tmp/stderr"; then
        fail "$name: stderr does not match /$pattern/: $msg"
    elif [ -s "$tmp/stdout" ]; then
        fail "$name: wrote to stdout: $(head -c 200 "$tmp/stdout")"
    elif [ -e "$tmp/out" ]; then
        fail "$name: created the run folder before failing"
    else
        ok
    fi
    if [ -n "$table" ]; then
        msg="${msg% }"
        msg="${msg//$tmp\//}"
        printf '| %s | %s | `%s` |\n' "$name" "$rc" "${msg//|/\\|}" >>"$table"
    fi
}

# ---------------------------------------------------------------- data folders
python3 - "$tmp" <<'EOF' || { fail "python3 could not build the data folders"; finish; }
import gzip, os, shutil, struct, sys, zlib

tmp = sys.argv[1]

def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload

def images(n, h, w):
    return idx(8, [n, h, w], bytes((i * 7 + 3) % 256 for i in range(n * h * w)))

def labels(n):
    return idx(8, [n], bytes(i % 10 for i in range(n)))

good = {
    "train-images-idx3-ubyte": images(20, 4, 5),
    "train-labels-idx1-ubyte": labels(20),
    "t10k-images-idx3-ubyte": images(10, 4, 5),
    "t10k-labels-idx1-ubyte": labels(10),
}
TI, TL, EI, EL = list(good)

def folder(name, replace={}, remove=(), gz=()):
    d = os.path.join(tmp, "data", name)
    os.makedirs(d)
    files = dict(good)
    files.update(replace)
    for f, content in files.items():
        if f in remove:
            continue
        if content is None:  # a directory where the file should be
            os.mkdir(os.path.join(d, f))
        elif f in gz:
            open(os.path.join(d, f + ".gz"), "wb").write(content)
        else:
            open(os.path.join(d, f), "wb").write(content)

def gzipped(b):
    return gzip.compress(b, mtime=0)

ti = good[TI]
folder("good")
folder("empty", {TI: b""})
folder("short-magic", {TI: ti[:3]})
folder("short-header", {TI: ti[:10]})
folder("truncated-body", {TI: ti[:-7]})
folder("trailing-data", {TI: ti + b"\x00" * 5})
folder("wrong-magic", {TI: b"\x89PNG\r\n\x1a\n" + ti[8:]})
folder("idx-int32", {TI: idx(0x0C, [20, 4, 5], b"\x00" * 1600)})
folder("two-dims", {TI: idx(8, [20, 20], b"\x00" * 400)})
folder("2^31-images", {TI: idx(8, [2**31, 4, 5], b"\x00" * 100)})
folder("2^31-1-images", {TI: idx(8, [2**31 - 1, 1, 1], b"\x00" * 100)})
folder("2^31-1-images-gz", {TI: gzipped(idx(8, [2**31 - 1, 1, 1], b"\x00" * 100))}, gz=(TI,))
folder("65536x65536", {TI: idx(8, [1, 65536, 65536], b"\x00" * 100)})
folder("32768x32768", {TI: idx(8, [1, 32768, 32768], b"\x00" * 100)})
folder("zero-images", {TI: idx(8, [0, 4, 5], b"")})
folder("zero-width", {TI: idx(8, [20, 4, 0], b"")})
folder("label-count", {TL: labels(7)})
folder("label-type", {TL: idx(0x0D, [20], b"\x00" * 80)})
folder("test-label-count", {EL: labels(11)})
folder("sizes-disagree", {EI: images(10, 5, 4)})
folder("corrupt-gz", {TI: (lambda g: g[:20] + bytes(b ^ 0x5A for b in g[20:40]) + g[40:])(gzipped(ti))}, gz=(TI,))
folder("truncated-gz", {TI: gzipped(ti)[:-12]}, gz=(TI,))
folder("gz-bad-crc", {TI: (lambda g: g[:-8] + bytes(b ^ 0xFF for b in g[-8:-4]) + g[-4:])(gzipped(ti))}, gz=(TI,))
folder("gz-not-idx", {TI: gzipped(b"hello, world\n" * 10)}, gz=(TI,))
folder("dir-images", {TI: None})
folder("dir-test-labels", {EL: None})
folder("no-images", remove=(TI,))
nan = struct.pack(">f", float("nan"))
folder("float-nan", {TI: idx(0x0D, [20, 4, 5], struct.pack(">f", 0.5) * 37 + nan + struct.pack(">f", 0.5) * 362)})
folder("float-range", {TI: idx(0x0D, [20, 4, 5], struct.pack(">f", 0.5) * 399 + struct.pack(">f", 7.0))})
# 2^20 images of 1x1: a batch of 2^20 fits the training set but not the memory check
folder("million", {TI: idx(8, [2**20, 1, 1], b"\x01" * 2**20), TL: idx(8, [2**20], b"\x00" * 2**20),
                   EI: idx(8, [10, 1, 1], b"\x01" * 10), EL: labels(10)})
EOF

D="$tmp/data"
train() { "$VAE" train --data "$1" --out "$tmp/out" --hidden 4 --latent 2 --epochs 1 --batch 4 --threads 1 "${@:2}"; }
TI=train-images-idx3-ubyte
TL=train-labels-idx1-ubyte
EI=t10k-images-idx3-ubyte
EL=t10k-labels-idx1-ubyte

# The good folder trains (so every failure below is the broken file's doing); its model serves eval.
if train "$D/good" >/dev/null 2>"$tmp/stderr"; then ok; else fail "the good folder does not train: $(cat "$tmp/stderr")"; fi
cp "$tmp/out/model.safetensors" "$tmp/good.safetensors" 2>/dev/null
rm -rf "$tmp/out"

expect "empty image file" "$TI: empty file" train "$D/empty"
expect "3-byte file (truncated magic)" "$TI: truncated header: 3 of 4 magic bytes" train "$D/short-magic"
expect "truncated header" "$TI: truncated header: 6 of 12 size bytes" train "$D/short-header"
expect "truncated body" "$TI: truncated: header says 20 images of 4x5 \(400 bytes\) but the file holds 393" train "$D/truncated-body"
expect "trailing data" "$TI: trailing data: .*5 extra" train "$D/trailing-data"
expect "wrong magic (a PNG)" "$TI: not an IDX file: magic bytes 89 50 4e 47" train "$D/wrong-magic"
expect "unsupported type (int32)" "$TI: IDX type code 0x0c \(int32\) is not supported" train "$D/idx-int32"
expect "2 dimensions" "$TI: 2 dimensions, but image files need 3 or 4" train "$D/two-dims"
expect "2^31 images" "$TI: header says 2147483648 images, more than the limit 2147483647" train "$D/2^31-images"
expect "2^31-1 images over 100 bytes" "$TI: truncated: header says 2147483647 images of 1x1 \(2147483647 bytes\) but the file holds 100 bytes" \
    train "$D/2^31-1-images"
expect "2^31-1 images, gzip" "$TI.gz: truncated: header says 2147483647 images of 1x1 .* holds 100 bytes of data \(decompressed\)" \
    train "$D/2^31-1-images-gz"
expect "65536 x 65536 pixels" "$TI: height 65536 in the header exceeds the limit 32768" train "$D/65536x65536"
expect "32768 x 32768 pixels" "$TI: header says 1 images of 32768x32768: 1073741824 values per image exceed the limit" \
    train "$D/32768x32768"
expect "zero images" "$TI: image count is 0 in the header" train "$D/zero-images"
expect "zero width" "$TI: width is 0 in the header" train "$D/zero-width"
expect "label count != image count" "$TL: header says 7 labels but there are 20 images" train "$D/label-count"
expect "label type float" "$TL: IDX type code 0x0d \(float32\) is not supported: label files need 0x08" train "$D/label-type"
expect "test label count" "$EL: header says 11 labels but there are 10 images" train "$D/test-label-count"
expect "train/test sizes disagree" "sizes-disagree: training images are 4x5x1 but test images are 5x4x1" train "$D/sizes-disagree"
expect "corrupt .gz" "$TI.gz: corrupt gzip data" train "$D/corrupt-gz"
expect "truncated .gz" "$TI.gz: truncated gzip file \(the stream ends before its end marker and checksum\)" \
    train "$D/truncated-gz"
expect ".gz with a bad CRC" "$TI.gz: corrupt gzip data \(incorrect data check\)" train "$D/gz-bad-crc"
expect ".gz of text" "$TI.gz: not an IDX file: magic bytes 68 65 6c 6c" train "$D/gz-not-idx"
expect "directory as image file" "$TI: is a directory, expected an IDX file" train "$D/dir-images"
expect "directory as test label file" "$EL: is a directory, expected an IDX file" train "$D/dir-test-labels"
expect "no image file" "no-images: no $TI or $TI.gz" train "$D/no-images"
expect "no data folder" "nowhere: no such directory" train "$D/nowhere"
expect "data folder is a file" "$TI: not a directory" train "$D/good/$TI"
expect "NaN pixel (float32)" "$TI: value 17 of image 1 is not finite" train "$D/float-nan"
expect "pixel 7.0, Bernoulli" "float-range: value 7 outside \[0, 1\]: use --likelihood gaussian" train "$D/float-range"

# eval reads the same files: the test split this time
expect "eval --split train: empty image file" "$TI: empty file" "$VAE" eval --model "$tmp/good.safetensors" --data "$D/empty" --split train
expect "eval: test sizes disagree with the model" "sizes-disagree: test images are 5x4x1, the model expects 4x5x1" \
    "$VAE" eval --model "$tmp/good.safetensors" --data "$D/sizes-disagree"
expect "eval: directory as test labels" "$EL: is a directory" "$VAE" eval --model "$tmp/good.safetensors" --data "$D/dir-test-labels"

# Lying headers allocate nothing in proportion to their lie: the same errors under 1 GB of address space.
for c in "2^31-1-images:$TI: truncated: header says 2147483647 images of 1x1" \
    "2^31-1-images-gz:$TI.gz: truncated: header says 2147483647 images of 1x1" \
    "65536x65536:$TI: height 65536 in the header exceeds"; do
    name="${c%%:*}"
    expect "$name under ulimit -v 1000000" "${c#*:}" bash -c "$vmem_limit"' && exec "$@"' - \
        "$VAE" train --data "$D/$name" --out "$tmp/out" --hidden 4 --latent 2 --epochs 1 --batch 4 --threads 1
done

# ---------------------------------------------------------------- checkpoints
G="$D/good"
: >"$tmp/empty.safetensors"
head -c 5 "$tmp/good.safetensors" >"$tmp/short.safetensors"
head -c 300 "$tmp/good.safetensors" >"$tmp/cut.safetensors"
cp "$D/good/$TI" "$tmp/idx.safetensors"
mkdir "$tmp/dir.safetensors"
python3 - "$tmp" <<'EOF'
import json, struct, sys
tmp = sys.argv[1]
b = open(tmp + "/good.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = b[8 + n:]
def write(name, header, payload=data):
    s = json.dumps(header).encode()
    s += b" " * (-len(s) % 8)
    open(tmp + "/" + name, "wb").write(struct.pack("<Q", len(s)) + s + payload)
lie = json.loads(json.dumps(h))
lie["__metadata__"].update(hidden="65536,65536", height="4096", width="4096")
write("lying.safetensors", lie)
odd = json.loads(json.dumps(h))
odd["__metadata__"]["latent"] = "0"
write("latent0.safetensors", odd)
EOF
M="model.safetensors: "
expect "checkpoint: empty" "empty.safetensors: empty file" "$VAE" eval --model "$tmp/empty.safetensors" --data "$G"
expect "checkpoint: 5 bytes" "short.safetensors: file is 5 bytes, too short for the 8-byte header length" \
    "$VAE" eval --model "$tmp/short.safetensors" --data "$G"
expect "checkpoint: truncated" "cut.safetensors: header length [0-9]+ is past the end of the file" \
    "$VAE" eval --model "$tmp/cut.safetensors" --data "$G"
expect "checkpoint: an IDX file" "idx.safetensors: header length [0-9]+ is past the end of the file" \
    "$VAE" eval --model "$tmp/idx.safetensors" --data "$G"
expect "checkpoint: a directory" "dir.safetensors: is a directory" "$VAE" eval --model "$tmp/dir.safetensors" --data "$G"
expect "checkpoint: missing" "nothing.safetensors: no such file" "$VAE" eval --model "$tmp/nothing.safetensors" --data "$G"
expect "checkpoint: latent 0 in the metadata" "latent0.safetensors: metadata latent='0' is not an integer in 1\.\.4096" \
    "$VAE" eval --model "$tmp/latent0.safetensors" --data "$G"
expect "checkpoint: metadata claims a 4096x4096, 65536-wide model" \
    "lying.safetensors: the metadata describes a model of [0-9]+ parameters .* but the file holds [0-9]+ bytes of data" \
    bash -c "$vmem_limit"' && exec "$@"' - "$VAE" eval --model "$tmp/lying.safetensors" --data "$G"

# ---------------------------------------------------------------- flags
T=("$VAE" train --data "$G" --out "$tmp/out" --threads 1)
expect "--epochs 0" "--epochs: 0 is out of range 1\.\.1000000" "${T[@]}" --epochs 0
expect "--epochs -3" "--epochs: -3 is out of range" "${T[@]}" --epochs -3
expect "--batch 0" "--batch: 0 is out of range 1\.\.1048576" "${T[@]}" --batch 0
expect "--batch -1" "--batch: -1 is out of range" "${T[@]}" --batch -1
expect "--latent 0" "--latent: 0 is out of range 1\.\.4096" "${T[@]}" --latent 0
expect "--latent -2" "--latent: -2 is out of range" "${T[@]}" --latent -2
expect "--epochs ten" "--epochs: 'ten' is not an integer" "${T[@]}" --epochs ten
expect "--batch 1.5" "--batch: '1\.5' is not an integer" "${T[@]}" --batch 1.5
expect "--batch 99999999999999999999" "--batch: 99999999999999999999 is out of range 1\.\.1048576" "${T[@]}" --batch 99999999999999999999
expect "--lr abc" "--lr: 'abc' is not a number" "${T[@]}" --lr abc
expect "--lr nan" "--lr: 'nan' is not a number" "${T[@]}" --lr nan
expect "--lr 1e400" "--lr: 1e400 is out of range 1e-12\.\.10" "${T[@]}" --lr 1e400
expect "--lr 0" "--lr: 0 is out of range" "${T[@]}" --lr 0
expect "--lr -1e-3" "--lr: -0\.001 is out of range" "${T[@]}" --lr -1e-3
expect "--hidden 0" "--hidden: '0' is not a list of up to 8 widths" "${T[@]}" --hidden 0
expect "--hidden 1,,2" "--hidden: '1,,2' is not a list" "${T[@]}" --hidden 1,,2
expect "--lr-schedule 1:x" "--lr-schedule: '1:x' is not a list of EPOCHS:RATE pairs" "${T[@]}" --lr-schedule 1:x
expect "--activation sigmoid" "--activation: 'sigmoid' is not one of relu\|tanh" "${T[@]}" --activation sigmoid
expect "unknown flag" "unknown flag '--epoch'" "${T[@]}" --epoch 3
expect "stray argument" "unknown argument 'extra'" "${T[@]}" extra
expect "flag without its value" "--epochs needs a value" "${T[@]}" --epochs
expect "flag given twice" "--batch given twice" "${T[@]}" --batch 2 --batch 3
expect "boolean with a value" "--ae takes no value" "${T[@]}" --ae=1
expect "missing --data" "--data is required" "$VAE" train --out "$tmp/out"
expect "unknown subcommand" "unknown command 'trian'" "$VAE" trian --data "$G"
mkdir -p "$tmp/full" && : >"$tmp/full/notes" && : >"$tmp/file"
expect "--out is a file" "--out .*/file: exists and is not a folder" "$VAE" train --data "$G" --out "$tmp/file"
expect "--out not empty" "--out .*/full: the folder is not empty \(use --resume to continue or --force to start over\)" \
    "$VAE" train --data "$G" --out "$tmp/full"
expect "--resume without a checkpoint" "--resume: .*train-state.safetensors does not exist" "${T[@]}" --resume
expect "--resume with --force" "--resume and --force exclude each other" "${T[@]}" --resume --force
expect "--batch 21 > 20 training images" "--batch 21 is larger than the 20 training images" "${T[@]}" --batch 21
expect "--val 20 of 20 images" "--val 20: the training set holds only 20 images" "${T[@]}" --val 20
expect "eval --n 11 of 10 images" "--n 11: the test split holds only 10 images" \
    "$VAE" eval --model "$tmp/good.safetensors" --data "$G" --n 11
# Larger than memory could hold: 2^20 one-pixel images and --batch 2^20 (the activations of such a batch
# need over 250 GiB); skipped on a machine with more than 400 GiB of memory.
mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
if [ "${mem_kb:-0}" -lt $((400 * 1024 * 1024)) ]; then
    expect "--batch 1048576 > memory" "--batch 1048576: its activations \([0-9.]+ GiB\) would not fit in this machine's memory" \
        "$VAE" train --data "$D/million" --out "$tmp/out" --threads 1 --batch 1048576
fi
# No subcommand: the usage (several lines) on stderr, exit 2.
"$VAE" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "^usage: vae COMMAND" "$tmp/stderr" && [ ! -s "$tmp/stdout" ]; then ok; else fail "no subcommand: exit $rc"; fi
[ -z "$table" ] || printf '| %s | %s | `%s` |\n' "no subcommand" "$rc" "usage: vae COMMAND [flags] ... (the list of commands)" >>"$table"
finish
