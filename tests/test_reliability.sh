#!/usr/bin/env bash
# test_reliability.sh: hostile inputs and outputs of the CLI (issue 13), each case small and fast:
#   1. compressed and checksummed input verified end to end: a gzip stream cut short (CSV and IDX, at a line
#      boundary, before the trailer, inside the data) says "truncated" and names the file; a wrong length or
#      CRC in the trailer "corrupt"; a PNG with a flipped IDAT byte (chunk CRC), with a flipped byte and a
#      fixed CRC (zlib's Adler-32), cut short, or without IEND is refused; bytes after IEND are accepted
#   2. FIFOs, devices and sockets as data files or checkpoints are refused at once (never block); a symlink
#      to a regular file is accepted
#   3. the run-folder lock: a second train (plain, --resume, --force) is refused with the owner's PID; the
#      lock of a killed run is taken over; the refused runs leave no folder behind
#   4. every output replaced atomically: a kill inside the write of encode's CSV, eval --per-image, decode's
#      CSV and export-c's pair leaves the old files whole; the next writer removes the dead temporaries;
#      export-c's source refuses to compile beside another export's header
#   5. stdout checked: `> /dev/full` exits 1 with a message (eval, export-c, train)
#   6. strict JSON: eval on data with values near 3e38 prints null (parsed by a strict JSON reader) and says
#      why on stderr; train on it stops with a message that names the data, not the learning rate
#   7. smaller: a UTF-8 BOM before a CSV header, SIGHUP saves like SIGINT, an output that is an input is
#      refused, --ae with --beta or --kl-warmup is refused, a long path keeps the reason in the message,
#      empty --data/--model name the flag
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them), python3 and cc. Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
VAE="$(cd "$(dirname "$VAE")" && pwd)/$(basename "$VAE")"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_reliability.XXXXXX")"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
need_vae
if ! command -v python3 >/dev/null; then fail "python3 is needed to make the fixtures"; finish; fi
quiet() { "$@" >/dev/null 2>&1; }

# expect WHAT RC PATTERN CMD...: CMD exits RC within 20 s and its stderr matches the extended regex PATTERN
expect() {
    local what="$1" want="$2" pattern="$3" rc
    shift 3
    timeout 20 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$what: exit $rc, expected $want; stderr: $(head -c 400 "$tmp/err")"
    elif ! grep -Eq -- "$pattern" "$tmp/err"; then
        fail "$what: stderr does not match /$pattern/: $(head -c 400 "$tmp/err")"
    else
        ok
    fi
}

# ---- fixtures: CSV folders, IDX .gz folders, PNG folders (python3, zlib)
python3 - "$tmp" <<'EOF' || { fail "making the fixtures"; finish; }
import gzip, os, random, shutil, struct, sys, zlib
root = sys.argv[1]
rng = random.Random(3)

def csv_text(n, big=False):
    rows = ["label,a,b,c,d"]
    for i in range(n):
        v = [rng.random() for _ in range(4)]
        if big and i == 0:
            v[1] = 3e38
        rows.append("%d,%s" % (i % 2, ",".join("%.6g" % x for x in v)))
    return "\n".join(rows) + "\n"

def folder(name, files):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    for k, v in files.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)
    return d

good = csv_text(40).encode()
test = csv_text(10).encode()
gz = gzip.compress(good, mtime=0)
folder("csv", {"train.csv": good, "test.csv": test})
folder("csv-bom", {"train.csv": b"\xef\xbb\xbf" + good, "test.csv": test})
folder("csv-big", {"train.csv": csv_text(40, True).encode(), "test.csv": csv_text(10, True).encode()})
# a gzip stream cut at the end of a line of its data (the decompressed bytes stop after a whole row)
cut = zlib.compressobj(6, zlib.DEFLATED, 31)
part = good[:good.index(b"\n", len(good) // 2) + 1]
line_cut = cut.compress(part) + cut.flush(zlib.Z_SYNC_FLUSH)
folder("csvgz-line", {"train.csv.gz": line_cut, "test.csv": test})
folder("csvgz-notrailer", {"train.csv.gz": gz[:-8], "test.csv": test})
folder("csvgz-inside", {"train.csv.gz": gz[:len(gz) // 2], "test.csv": test})
bad_len = gz[:-4] + struct.pack("<I", len(good) + 1)
folder("csvgz-badlen", {"train.csv.gz": bad_len, "test.csv": test})
bad_crc = gz[:-8] + struct.pack("<I", zlib.crc32(good) ^ 1) + gz[-4:]
folder("csvgz-badcrc", {"train.csv.gz": bad_crc, "test.csv": test})

# IDX: the tiny fixture's training images, gzip'ed, trailer cut off
idx = bytes([0, 0, 8, 3]) + struct.pack(">III", 6, 5, 7) + bytes(rng.randrange(256) for _ in range(6 * 35))
lab = bytes([0, 0, 8, 1]) + struct.pack(">I", 6) + bytes([0, 1, 0, 1, 0, 1])
idxgz = gzip.compress(idx, mtime=0)
d = folder("idxgz-notrailer", {"train-images-idx3-ubyte.gz": idxgz[:-8], "train-labels-idx1-ubyte": lab,
                               "t10k-images-idx3-ubyte": idx, "t10k-labels-idx1-ubyte": lab})

def png(w, h, seed, tail=b""):
    r = random.Random(seed)
    raw = b"".join(b"\0" + bytes(r.randrange(256) for _ in range(w)) for _ in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"") + tail)

def png_folder(name, bad=None):
    for split, n in (("train", 8), ("test", 4)):
        files = {"%02d.png" % i: png(6, 5, i) for i in range(n)}
        if bad is not None and split == "train":
            files["03.png"] = bad
        folder(os.path.join(name, split), files)

p = bytearray(png(6, 5, 3))
idat = p.index(b"IDAT")
flipped = bytearray(p); flipped[idat + 6] ^= 0x10               # a byte of the zlib data: chunk CRC fails
png_folder("png-good", png(6, 5, 3, tail=b"junk after IEND"))
png_folder("png-crc", bytes(flipped))
n = struct.unpack(">I", bytes(p[idat - 4:idat]))[0]
fixed = bytearray(p); fixed[idat + 4 + n - 1] ^= 0x01           # the last byte of the Adler-32, CRC fixed
fixed[idat + 4 + n:idat + 8 + n] = struct.pack(">I", zlib.crc32(bytes(fixed[idat:idat + 4 + n])))
png_folder("png-adler", bytes(fixed))
png_folder("png-cut", bytes(p[:len(p) - 20]))
png_folder("png-noiend", bytes(p[:p.index(b"IEND") - 4]))
EOF

# ---- 1. compressed and checksummed input
for c in csvgz-line csvgz-notrailer csvgz-inside; do
    expect "gzip $c: truncated, file named" 2 "$tmp/$c/train.csv.gz: truncated gzip file" \
        "$VAE" train --data "$tmp/$c" --out "$tmp/run-$c" --epochs 1 --batch 4 --likelihood gaussian
    check "gzip $c: no run folder left behind" test ! -e "$tmp/run-$c"
done
expect "gzip: a wrong length in the trailer is corrupt" 2 "train.csv.gz: corrupt gzip data \(incorrect length check\)" \
    "$VAE" train --data "$tmp/csvgz-badlen" --out "$tmp/r" --epochs 1 --batch 4 --likelihood gaussian
expect "gzip: a wrong CRC in the trailer is corrupt" 2 "train.csv.gz: corrupt gzip data \(incorrect data check\)" \
    "$VAE" train --data "$tmp/csvgz-badcrc" --out "$tmp/r" --epochs 1 --batch 4 --likelihood gaussian
expect "IDX .gz without its trailer: truncated" 2 "train-images-idx3-ubyte.gz: truncated gzip file" \
    "$VAE" train --data "$tmp/idxgz-notrailer" --out "$tmp/r" --epochs 1 --batch 2
expect "PNG: flipped IDAT byte fails the chunk CRC" 2 "png-crc/train/03.png: corrupt PNG file: chunk 'IDAT' at byte [0-9]+ fails its CRC check" \
    "$VAE" train --data "$tmp/png-crc" --out "$tmp/r" --epochs 1 --batch 2
expect "PNG: flipped data byte with its CRC fixed fails the zlib check" 2 "png-adler/train/03.png: corrupt PNG file: the image data fails its zlib check \(incorrect data check\)" \
    "$VAE" train --data "$tmp/png-adler" --out "$tmp/r" --epochs 1 --batch 2
expect "PNG: cut short" 2 "png-cut/train/03.png: truncated PNG file" \
    "$VAE" train --data "$tmp/png-cut" --out "$tmp/r" --epochs 1 --batch 2
expect "PNG: no IEND" 2 "png-noiend/train/03.png: truncated PNG file" \
    "$VAE" train --data "$tmp/png-noiend" --out "$tmp/r" --epochs 1 --batch 2
check "PNG: bytes after IEND are accepted" quiet "$VAE" train --data "$tmp/png-good" --out "$tmp/png-run" --epochs 1 \
    --batch 2 --hidden 8 --latent 2 --threads 1

# a model to read in the rest
M="$tmp/m/model.safetensors"
check "train the small model" quiet "$VAE" train --data "$tmp/csv" --out "$tmp/m" --epochs 1 --batch 8 --hidden 8 \
    --latent 2 --likelihood gaussian --threads 1

# ---- 2. special files never block
mkfifo "$tmp/fifo"
mkdir -p "$tmp/fifo-data" "$tmp/link-data"
cp "$tmp/csv/test.csv" "$tmp/fifo-data/test.csv"
ln -s "$tmp/fifo" "$tmp/fifo-data/train.csv"
expect "FIFO (via a symlink) as a data file" 2 "fifo-data/train.csv: not a regular file \(a FIFO\)" \
    "$VAE" train --data "$tmp/fifo-data" --out "$tmp/r" --epochs 1 --likelihood gaussian
expect "FIFO as --model" 2 "fifo: not a regular file \(a FIFO\), expected a safetensors file" \
    "$VAE" eval --model "$tmp/fifo" --data "$tmp/csv"
expect "a device as --model" 2 "/dev/zero: not a regular file \(a device\)" "$VAE" eval --model /dev/zero --data "$tmp/csv"
mkdir -p "$tmp/png-fifo/train" "$tmp/png-fifo/test"
cp "$tmp/png-good/train/"*.png "$tmp/png-fifo/train/"
cp "$tmp/png-good/test/"*.png "$tmp/png-fifo/test/"
rm "$tmp/png-fifo/train/05.png"
mkfifo "$tmp/png-fifo/train/05.png"
expect "FIFO in an image folder" 2 "05.png: not a regular file" "$VAE" train --data "$tmp/png-fifo" --out "$tmp/r" --epochs 1 --batch 2
ln -s "$tmp/csv/train.csv" "$tmp/link-data/train.csv"
ln -s "$tmp/csv/test.csv" "$tmp/link-data/test.csv"
check "symlinks to regular files are accepted" quiet "$VAE" eval --model "$M" --data "$tmp/link-data"

# ---- 3. one owner per run folder
R="$tmp/locked"
VAE_TEST_PAUSE_IN_WRITE=0.2 "$VAE" train --data "$tmp/csv" --out "$R" --epochs 100000 --batch 8 --hidden 8 --latent 2 \
    --likelihood gaussian --threads 1 >/dev/null 2>&1 &
owner=$!
pids+=("$owner")
for ((i = 0; i < 200; i++)); do [ -s "$R/model.safetensors" ] && break; sleep 0.05; done
expect "lock: a second train into the folder" 2 "the run folder is in use by process $owner" \
    "$VAE" train --data "$tmp/csv" --out "$R" --epochs 1 --likelihood gaussian
expect "lock: --resume respects it" 2 "in use by process $owner" "$VAE" train --data "$tmp/csv" --out "$R" --resume --epochs 1
expect "lock: --force respects it" 2 "in use by process $owner" "$VAE" train --data "$tmp/csv" --out "$R" --force --epochs 1
check "lock: the owner still runs" kill -0 "$owner"
kill -9 "$owner"
wait "$owner" 2>/dev/null
check "lock: the lock file still names the killed owner" grep -qx "$owner" "$R/.vae-lock"
expect "lock: the stale lock of a killed run is taken over" 0 "" "$VAE" train --data "$tmp/csv" --out "$R" --force \
    --epochs 1 --batch 8 --hidden 8 --latent 2 --likelihood gaussian --threads 1
check "lock: the folder holds no temporary file after the takeover" bash -c "! compgen -G '$R/*.tmp-*' >/dev/null"

# ---- 4. outputs replaced atomically
# killed_write WHAT FILE CMD...: CMD (paused inside its atomic write) is killed there; FILE keeps its old bytes
killed_write() {
    local what="$1" file="$2" i
    shift 2
    cp "$file" "$tmp/before"
    VAE_TEST_PAUSE_IN_WRITE=30 "$@" >/dev/null 2>&1 &
    local p=$!
    pids+=("$p")
    for ((i = 0; i < 400; i++)); do compgen -G "$file.tmp-$p-*" >/dev/null && break; sleep 0.05; done
    check "$what: a temporary file beside it while writing" bash -c "compgen -G '$file.tmp-$p-*' >/dev/null"
    kill -9 "$p"
    wait "$p" 2>/dev/null
    check "$what: killed in the write, the old file is whole" cmp -s "$file" "$tmp/before"
}
"$VAE" encode --model "$M" --data "$tmp/csv" --out "$tmp/codes.csv" >/dev/null 2>&1
printf 'old contents\n' >"$tmp/codes.csv"
killed_write "encode --out" "$tmp/codes.csv" "$VAE" encode --model "$M" --data "$tmp/csv" --out "$tmp/codes.csv"
check "encode: the next write removes the dead writer's temporary" quiet "$VAE" encode --model "$M" --data "$tmp/csv" --out "$tmp/codes.csv"
check "encode: no temporary left" bash -c "! compgen -G '$tmp/codes.csv.tmp-*' >/dev/null"
check "encode: the new CSV is whole" bash -c "[ \$(wc -l <'$tmp/codes.csv') -eq 11 ]"
printf 'old\n' >"$tmp/per.csv"
killed_write "eval --per-image" "$tmp/per.csv" "$VAE" eval --model "$M" --data "$tmp/csv" --per-image "$tmp/per.csv"
printf 'old\n' >"$tmp/dec.csv"
killed_write "decode --out x.csv" "$tmp/dec.csv" "$VAE" decode --model "$M" --z 0,0 --out "$tmp/dec.csv"
mkdir -p "$tmp/exp"
check "export-c" quiet "$VAE" export-c --model "$M" --out "$tmp/exp"
cp "$tmp/exp/vae_decoder.c" "$tmp/source-before"
killed_write "export-c: vae_decoder.h" "$tmp/exp/vae_decoder.h" "$VAE" export-c --model "$M" --out "$tmp/exp" --int8
check "export-c: killed in the write, vae_decoder.c is whole too" cmp -s "$tmp/exp/vae_decoder.c" "$tmp/source-before"
mkdir -p "$tmp/exp8"
check "export-c --int8" quiet "$VAE" export-c --model "$M" --out "$tmp/exp8" --int8
cp "$tmp/exp8/vae_decoder.h" "$tmp/exp/vae_decoder.h"
if command -v cc >/dev/null; then
    expect "export-c: a source beside another export's header does not compile" 1 "does not come from the export of this" \
        cc -std=c99 -c "$tmp/exp/vae_decoder.c" -o "$tmp/dec.o"
    check "export-c: a matching pair compiles" cc -std=c99 -Wall -Werror -c "$tmp/exp8/vae_decoder.c" -o "$tmp/dec.o"
fi

# ---- 5. stdout checked
expect "eval > /dev/full" 1 "cannot write to standard output" sh -c "exec '$VAE' eval --model '$M' --data '$tmp/csv' >/dev/full"
expect "export-c > /dev/full" 1 "cannot write to standard output" sh -c "exec '$VAE' export-c --model '$M' --out '$tmp/exp' >/dev/full"
expect "train > /dev/full" 1 "cannot write to standard output" sh -c "exec '$VAE' train --data '$tmp/csv' --out '$tmp/full' \
    --epochs 1 --batch 8 --hidden 8 --latent 2 --likelihood gaussian --threads 1 >/dev/full"

# ---- 6. strict JSON
strict_json() { python3 -c 'import json, sys
def bad(c): raise ValueError("not JSON: " + c)
o = json.loads(sys.stdin.read(), parse_constant=bad)
sys.exit(0 if o["loss"] is None else 1)'; }
"$VAE" eval --model "$M" --data "$tmp/csv-big" >"$tmp/big.json" 2>"$tmp/big.err"
rc=$?
check "eval on values near 3e38: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "eval on values near 3e38: strict JSON with loss null" strict_json <"$tmp/big.json"
check "eval on values near 3e38: the reason on stderr" grep -q "not finite.*printed as null.*values up to 3e+38" "$tmp/big.err"
expect "train on values near 3e38: the message names the data" 1 "The batch holds values up to 3e\+38" \
    "$VAE" train --data "$tmp/csv-big" --out "$tmp/big" --epochs 1 --batch 8 --likelihood gaussian --threads 1
check "train on values near 3e38: the message does not blame the learning rate" bash -c "! grep -q 'learning rate too high' '$tmp/err'"
"$VAE" eval --model "$M" --data "$tmp/csv" >"$tmp/ok.json" 2>/dev/null
check "eval: ordinary output is strict JSON" python3 -c 'import json, sys
json.loads(open(sys.argv[1]).read(), parse_constant=lambda c: sys.exit(1))' "$tmp/ok.json"

# ---- 7. smaller points
"$VAE" encode --model "$M" --data "$tmp/csv-bom" --split train --out "$tmp/bom.csv" --n 4 >/dev/null 2>&1
check "BOM: the label column is read as labels" bash -c "[ \"\$(cut -d, -f2 '$tmp/bom.csv' | tail -n 4 | tr '\n' ' ')\" = '0 1 0 1 ' ]"
R="$tmp/hup"
"$VAE" train --data "$tmp/csv" --out "$R" --epochs 100000 --batch 8 --hidden 8 --latent 2 --likelihood gaussian \
    --threads 1 >/dev/null 2>"$tmp/hup.err" &
p=$!
pids+=("$p")
for ((i = 0; i < 200; i++)); do [ -s "$R/metrics.jsonl" ] && break; sleep 0.05; done
kill -HUP "$p"
wait "$p"
rc=$?
check "SIGHUP: exit 129 after saving (got $rc)" [ "$rc" -eq 129 ]
check "SIGHUP: says it saved" grep -q "stopped by signal 1 .*saved" "$tmp/hup.err"
read -r _ e _ _ < <(state_counters "$R/train-state.safetensors")
check "SIGHUP: the run resumes from its state" quiet "$VAE" train --data "$tmp/csv" --out "$R" --resume --epochs $((e + 1))
cp "$M" "$tmp/m-copy.safetensors"
expect "encode --out the model" 2 "is the model being read" "$VAE" encode --model "$M" --data "$tmp/csv" --out "$M"
expect "encode --out a data file" 2 "is a data file being read" "$VAE" encode --model "$M" --data "$tmp/csv" --out "$tmp/csv/test.csv"
expect "eval --per-image the model" 2 "is the model being read" "$VAE" eval --model "$M" --data "$tmp/csv" --per-image "$M"
ln -sf "$M" "$tmp/model-link.png"
expect "sample --out a link to the model" 2 "is the model being read" "$VAE" sample --model "$M" --out "$tmp/model-link.png"
check "the model survived" cmp -s "$M" "$tmp/m-copy.safetensors"
expect "--ae with --beta" 2 "--beta: an autoencoder \(--ae\) has no KL term" "$VAE" train --data "$tmp/csv" --out "$tmp/ae" --ae --beta 4
expect "--ae with --kl-warmup" 2 "--kl-warmup: an autoencoder \(--ae\) has no KL term" "$VAE" train --data "$tmp/csv" --out "$tmp/ae" --ae --kl-warmup 3
check "--ae with --beta: no folder left" test ! -e "$tmp/ae"
long="$tmp/$(printf 'd%.0s' {1..250})/$(printf 'e%.0s' {1..250})/$(printf 'f%.0s' {1..250})/$(printf 'g%.0s' {1..250})/$(printf 'h%.0s' {1..250})"
expect "a long path keeps the reason" 2 "$(printf 'h%.0s' {1..250})/train-images-idx3-ubyte.gz: no such file|$(printf 'h%.0s' {1..250}): no such directory|no (train|.*) or .*\.gz" \
    "$VAE" train --data "$long" --out "$tmp/r"
check "a long path: the message is longer than 1 KiB" bash -c "[ \$(wc -c <'$tmp/err') -gt 1100 ]"
# --resume continues the run's --lr-schedule (restored from the state, not only the rate of --lr): bit for bit
S=(--data "$tmp/csv" --batch 8 --hidden 8 --latent 2 --likelihood gaussian --threads 1)
"$VAE" train "${S[@]}" --out "$tmp/sched-once" --lr-schedule 1:1e-3,1:2e-2 --epochs 2 >/dev/null 2>&1
"$VAE" train "${S[@]}" --out "$tmp/sched-twice" --lr-schedule 1:1e-3,1:2e-2 --epochs 1 >/dev/null 2>&1
"$VAE" train --data "$tmp/csv" --out "$tmp/sched-twice" --resume --epochs 2 --threads 1 >/dev/null 2>&1
check "--resume keeps the --lr-schedule: same model as one run" cmp -s "$tmp/sched-once/model.safetensors" \
    "$tmp/sched-twice/model.safetensors"
expect "--data \"\"" 2 "--data: the value is empty" "$VAE" train --data "" --out "$tmp/r"
expect "--model \"\"" 2 "--model: the value is empty" "$VAE" eval --model "" --data "$tmp/csv"
finish
