# shell-lib.bash: what the CLI shell tests share (sourced, not run): pass/fail counters with check and
# finish (which prints the closing "N passed, N failed" line and exits non-zero on failure), need_vae and
# need_mnist, be32, and
# subset, which cuts a small IDX data folder out of a big one.
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { # check "what" CMD...: passes when CMD succeeds
    local what="$1"
    shift
    if "$@"; then ok; else fail "$what"; fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

# need_vae, need_mnist: stop the test (counted as a failure) when the binary $VAE or MNIST under $ROOT is missing
need_vae() { [ -x "$VAE" ] || { fail "no vae binary at $VAE"; finish; }; }
need_mnist() {
    [ -e "$ROOT/data/mnist/train-images-idx3-ubyte" ] || [ -e "$ROOT/data/mnist/train-images-idx3-ubyte.gz" ] ||
        { fail "no MNIST in $ROOT/data/mnist (run scripts/fetch-data)"; finish; }
}

# be32 N: N as 4 big-endian bytes
be32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
# subset SRC DST NTRAIN NTEST: a data folder with the first images and labels of each split of SRC
subset() {
    local src="$1" dst="$2" split prefix n f dims rows cols
    mkdir -p "$dst"
    for split in train:"$3" t10k:"$4"; do
        prefix="${split%%:*}" n="${split#*:}"
        f="$src/$prefix-images-idx3-ubyte"; [ -f "$f" ] || f="$f.gz"
        dims=($(gzip -cdf "$f" | head -c 16 | od -An -tu1 -v))
        rows=$(((dims[8] << 24) | (dims[9] << 16) | (dims[10] << 8) | dims[11]))
        cols=$(((dims[12] << 24) | (dims[13] << 16) | (dims[14] << 8) | dims[15]))
        { printf '\x00\x00\x08\x03'; be32 "$n"; gzip -cdf "$f" | tail -c +9 | head -c $((8 + n * rows * cols)); } \
            >"$dst/$prefix-images-idx3-ubyte"
        f="$src/$prefix-labels-idx1-ubyte"; [ -f "$f" ] || f="$f.gz"
        { printf '\x00\x00\x08\x01'; be32 "$n"; gzip -cdf "$f" | tail -c +9 | head -c "$n"; } \
            >"$dst/$prefix-labels-idx1-ubyte"
    done
}

metrics_ok() { # metrics_ok RUN N: metrics.jsonl holds epochs 1..N, once each, in order
    local got
    got="$(sed -E 's/^\{"epoch": ([0-9]+),.*/\1/' "$1/metrics.jsonl" | tr '\n' ' ')"
    [ "$got" = "$(seq -s ' ' 1 "$2") " ] && return 0
    echo "metrics.jsonl should hold epochs 1..$2; missing: $(seq 1 "$2" | grep -vxF -f <(tr ' ' '\n' <<<"$got") | tr '\n' ' ')" \
        "repeated: $(tr ' ' '\n' <<<"$got" | sort -n | uniq -d | tr '\n' ' ')" >&2
    return 1
}
# state_counters FILE: "STEP EPOCH NEXT_BATCH N_TRAIN", the counters of a train-state.safetensors
state_counters() {
    python3 - "$1" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
o = h["counters"]["data_offsets"]
print(*struct.unpack("<4q", b[8 + n + o[0]:8 + n + o[1]]))
EOF
}
# use_tmp NAME: T, a fresh temporary folder named after the test, removed when the script exits
use_tmp() {
    T="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    trap 'rm -rf "$T"' EXIT
}
