#!/usr/bin/env bash
# test_python.sh: the Python bindings (python/libvae over the build's libvae.so) against the CLI, with
# Debian's python3 and python3-numpy (scripts/setup installs both): tests/test_python.py says what it checks.
# Also: the ctypes mirrors of vae_config and vae_train_opts have the C structs' field offsets and sizes, and
# python/example.py runs on the same small data.
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
VAE="$(cd "$(dirname "$VAE")" && pwd)/$(basename "$VAE")"
PY=/usr/bin/python3 # Debian's python3: the one that sees python3-numpy (another may come first on PATH)
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_python.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

need_vae
need_mnist
if ! "$PY" -c 'import numpy' 2>"$tmp/err"; then
    fail "$PY cannot import numpy (scripts/setup installs python3-numpy): $(tail -n 1 "$tmp/err")"
    finish
fi
export LIBVAE_LIBRARY="$(dirname "$VAE")/libvae.so"
[ -e "$LIBVAE_LIBRARY" ] || { fail "no $LIBVAE_LIBRARY (make builds it)"; finish; }
version="$(sed -n 's/.*VAE_VERSION_STRING "\(.*\)".*/\1/p' "$ROOT/include/vae.h")"
subset "$ROOT/data/mnist" "$tmp/data" 512 200

# The ctypes mirrors of vae_config and vae_train_opts: the same size, and every field they name at the offset
# the C compiler gives it
"$PY" - "$ROOT/python" >"$tmp/offsets.c" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[1])
import libvae
print('#include <stddef.h>\n#include <stdio.h>\n#include "vae.h"\nint main(void) {')
for cls, c in ((libvae.Config, "vae_config"), (libvae.TrainOpts, "vae_train_opts")):
    print(f'    printf("sizeof({c}) %zu {__import__("ctypes").sizeof(cls)}\\n", sizeof({c}));')
    for name, _ in cls._fields_:
        if name == "reserved":  # fields newer than the mirror live there in Python: harmless (they keep their defaults)
            continue
        print(f'    printf("{c}.{name} %zu {getattr(cls, name).offset}\\n", offsetof({c}, {name}));')
print("    return 0;\n}")
PYEOF
if ${CC:-cc} -I"$ROOT/include" -o "$tmp/offsets" "$tmp/offsets.c" 2>"$tmp/cc.err"; then
    while read -r field c py; do
        check "python/libvae mirrors $field: $c in C, $py in Python" [ "$c" = "$py" ]
    done < <("$tmp/offsets")
else
    fail "python/libvae names a field that include/vae.h does not have: $(grep -m1 error "$tmp/cc.err")"
fi

"$PY" "$ROOT/tests/test_python.py" "$VAE" "$tmp/data" "$tmp" "$version" >"$tmp/out"
rc=$?
last="$(tail -n 1 "$tmp/out")"
if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    [ "$rc" -eq 0 ] || [ "${BASH_REMATCH[2]}" -ne 0 ] || fail "test_python.py exits $rc"
else
    fail "test_python.py ended without its summary line (exit status $rc)"
fi

check "python/example.py trains, saves, reloads and decodes" \
    "$PY" "$ROOT/python/example.py" --data "$tmp/data" --out "$tmp/example.safetensors" --epochs 1 --hidden 32 \
    >"$tmp/example.out"
check "python/example.py wrote its checkpoint" [ -s "$tmp/example.safetensors" ]
check "python/example.py printed its epoch line" grep -q "^epoch 1  train_loss" "$tmp/example.out"
finish
