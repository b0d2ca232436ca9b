#!/usr/bin/env bash
# test_install.sh: `make install` into a temporary DESTDIR, programs built against the installed library
# with pkg-config, `make uninstall`; then (as root) the same with the .deb of `make deb`, dpkg -i and dpkg -r.
#
# A small model (784-64-2, one epoch on 512 MNIST images) gives the checkpoint. examples/decode.c is built
# against each installation twice, with `pkg-config --cflags --libs vae` (libvae.so) and with `--static`
# (libvae.a); both must print what build/examples/decode prints and write the PGM that `vae decode --out
# x.csv` implies, byte for byte. Also: exactly the promised files are installed and uninstalled;
# `nm -D` of the installed libvae.so lists exactly the functions that the installed vae.h declares; the man
# pages format without warnings; `vae --version` reports the header's version; every matrix-product engine
# runs in the portable build.
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="$(cd "${ROOT:-.}" && pwd)"
VAE="$(cd "$(dirname "$VAE")" && pwd)/$(basename "$VAE")"
CC="${CC:-cc}"
PY=/usr/bin/python3 # Debian's python3: the one that sees python3-numpy (another may come first on PATH)
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

need_vae
need_mnist
version="$(sed -n 's/.*VAE_VERSION_STRING "\(.*\)".*/\1/p' "$ROOT/include/vae.h")"
soname="libvae.so.${version%%.*}"

subset "$ROOT/data/mnist" "$tmp/data" 512 64
"$VAE" train --data "$tmp/data" --out "$tmp/run" --epochs 1 --batch 64 --hidden 64 --latent 2 --threads 1 >/dev/null ||
    { fail "vae train"; finish; }
model="$tmp/run/model.safetensors"
z="0.5,-1.0"
# The reference: `vae decode`'s mean values, made into decode.c's PGM with its float arithmetic.
VAE_ENGINE=openblas "$VAE" decode --model "$model" --z "$z" --out "$tmp/ref.csv" || fail "vae decode"
"$PY" - "$tmp/ref.csv" "$tmp/ref.pgm" <<'PY' || fail "$PY with numpy could not write the reference PGM"
import sys
import numpy as np
v = np.loadtxt(sys.argv[1], delimiter=",", dtype=np.float64).astype(np.float32)
px = np.where(v < 0, 0, np.where(v > 1, 255, (v * np.float32(255) + np.float32(0.5)).astype(np.int64)))
open(sys.argv[2], "wb").write(b"P5\n28 28\n255\n" + bytes(px.astype(np.uint8)))
PY
"$(dirname "$VAE")/examples/decode" "$model" "$z" >"$tmp/ref.txt" || fail "the build's examples/decode"

# link_check WHERE PKG_CONFIG_PATH LIBDIR: decode.c built with pkg-config against libvae.so and libvae.a,
# run on the model, compared with the references.
link_check() {
    local where="$1" pcpath="$2" libdir="$3" kind flags
    for kind in shared static; do
        if [ "$kind" = shared ]; then
            flags="$(PKG_CONFIG_PATH="$pcpath" pkg-config --cflags --libs vae)"
        else # libvae.a: the -lvae of --static becomes the archive, the rest stays as pkg-config gave it
            flags="$(PKG_CONFIG_PATH="$pcpath" pkg-config --cflags --libs --static vae |
                sed 's/-lvae\b/-Wl,-Bstatic -lvae -Wl,-Bdynamic/')"
        fi
        # shellcheck disable=SC2086
        if ! "$CC" -std=c11 -Wall -Wextra -Werror -o "$tmp/decode-$kind" "$ROOT/examples/decode.c" $flags; then
            fail "$where: decode.c does not build with pkg-config ($kind)"
            continue
        fi
        local needs want=0
        [ "$kind" = shared ] && want=1
        needs="$(readelf -d "$tmp/decode-$kind" | grep -c "NEEDED.*libvae")"
        check "$where: decode-$kind needs libvae.so $want times (found $needs)" [ "$needs" -eq "$want" ]
        rm -f "$tmp/out.pgm"
        if ! LD_LIBRARY_PATH="$libdir" "$tmp/decode-$kind" "$model" "$z" "$tmp/out.pgm" >"$tmp/out.txt"; then
            fail "$where: decode-$kind failed"
            continue
        fi
        check "$where: decode-$kind prints what build/examples/decode prints" cmp -s "$tmp/out.txt" "$tmp/ref.txt"
        check "$where: decode-$kind writes the image of vae decode" cmp "$tmp/out.pgm" "$tmp/ref.pgm"
    done
    if [ -n "$libdir" ]; then
        check "$where: decode-shared loads the installed libvae.so" \
            grep -q "$libdir/$soname" <(LD_LIBRARY_PATH="$libdir" ldd "$tmp/decode-shared")
    fi
}

# exports_check LIBVAE_SO VAE_H: nm -D lists exactly the functions the header declares
exports_check() {
    local declared exported
    declared="$("$CC" -E -P "$2" | grep -oE '\bvae_[a-z0-9_]+ *\(' | tr -d ' (' | sort -u)"
    exported="$(nm -D --defined-only "$1" | awk '{print $3}' | sort -u)"
    local extra missing
    extra="$(comm -13 <(echo "$declared") <(echo "$exported") | tr '\n' ' ')"
    missing="$(comm -23 <(echo "$declared") <(echo "$exported") | tr '\n' ' ')"
    [ -z "$extra" ] || echo "libvae.so exports symbols that vae.h does not declare: $extra" >&2
    [ -z "$missing" ] || echo "vae.h declares functions that libvae.so does not export: $missing" >&2
    [ -z "$extra" ] && [ -z "$missing" ] && [ -n "$exported" ]
}

man_check() { # man_check PAGE: formats without a warning
    local warnings
    warnings="$(groff -man -Tutf8 -ww -z "$1" 2>&1)"
    [ -z "$warnings" ] || echo "$1: $warnings" >&2
    [ -z "$warnings" ]
}

# ---------------------------------------------------------------- the portable build
# make install and make deb compile without -march=native; make (and the tests) with it
native_all="$(make -s -n -B -C "$ROOT" all 2>/dev/null | grep -c -- '-march=native')"
native_dist="$(make -s -n -B -C "$ROOT" dist 2>/dev/null | grep -c -- '-march=native')"
compiles_dist="$(make -s -n -B -C "$ROOT" dist 2>/dev/null | grep -c -- ' -c .*\.c')"
check "make all compiles with -march=native ($native_all commands)" [ "$native_all" -gt 0 ]
check "make dist (install, deb) compiles $compiles_dist files, none with -march=native ($native_dist)" \
    [ "$native_dist" -eq 0 -a "$compiles_dist" -gt 0 ]

# ---------------------------------------------------------------- make install DESTDIR=
dest="$tmp/dest"
prefix=/usr/local
if ! make -s -C "$ROOT" install DESTDIR="$dest" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    fail "make install DESTDIR=$dest"
    finish
fi
expected="bin/vae include/vae.h lib/libvae.a lib/libvae.so lib/$soname lib/libvae.so.$version lib/pkgconfig/vae.pc
share/man/man1/vae.1 share/man/man3/libvae.3"
got="$(cd "$dest" && find . ! -type d | sed "s|^\./${prefix#/}/||" | sort | tr '\n' ' ')"
check "make install writes exactly the promised files (got: $got)" \
    [ "$got" = "$(tr ' ' '\n' <<<"$expected" | sort | tr '\n' ' ')" ]
d="$dest$prefix"
check "libvae.so links to the soname, the soname to the versioned file" \
    [ "$(readlink "$d/lib/libvae.so")" = "$soname" -a "$(readlink "$d/lib/$soname")" = "libvae.so.$version" ]
check "the soname recorded in the library is $soname" grep -q "SONAME.*\[$soname\]" <(readelf -d "$d/lib/libvae.so.$version")
check "nm -D of the installed libvae.so lists exactly the functions of the installed vae.h" \
    exports_check "$d/lib/libvae.so.$version" "$d/include/vae.h"
check "the installed vae reports version $version" \
    [ "$("$d/bin/vae" --version)" = "vae $version (libvae $version)" ]
check "vae.1 formats without warnings" man_check "$d/share/man/man1/vae.1"
check "libvae.3 formats without warnings" man_check "$d/share/man/man3/libvae.3"
check "libvae.3 documents vae_version" grep -q "vae_version" "$d/share/man/man3/libvae.3"
# the staged vae.pc names PREFIX; a consumer of the staging folder points prefix at it
mkdir -p "$tmp/pc"
sed "s|^prefix=.*|prefix=$d|" "$d/lib/pkgconfig/vae.pc" >"$tmp/pc/vae.pc"
check "pkg-config reads vae.pc (version $version)" [ "$(PKG_CONFIG_PATH="$tmp/pc" pkg-config --modversion vae)" = "$version" ]
link_check "DESTDIR install" "$tmp/pc" "$d/lib"
# the engines chosen at run time work in the portable build: each decodes the reference's z as the build's
# vae does with VAE_ENGINE=openblas, to rounding
for engine in auto openblas dnnl blis; do
    if ! VAE_ENGINE=$engine "$d/bin/vae" decode --model "$model" --z "$z" --out "$tmp/e-$engine.csv" 2>"$tmp/e.err"; then
        fail "the installed vae with VAE_ENGINE=$engine: $(head -c 300 "$tmp/e.err")"
        continue
    fi
    check "the installed vae with VAE_ENGINE=$engine decodes as the build does (max difference 1e-5)" \
        "$PY" -c 'import sys, numpy as np; a, b = (np.loadtxt(f, delimiter=",") for f in sys.argv[1:]); sys.exit(int(np.abs(a - b).max() > 1e-5))' \
        "$tmp/ref.csv" "$tmp/e-$engine.csv"
done
make -s -C "$ROOT" uninstall DESTDIR="$dest" >/dev/null 2>&1 || fail "make uninstall DESTDIR=$dest"
left="$(cd "$dest" && find . ! -type d | tr '\n' ' ')"
check "make uninstall removes every installed file (left: $left)" [ -z "$left" ]

# ---------------------------------------------------------------- make deb, dpkg -i, dpkg -r
# dpkg_wait ARGS...: dpkg ARGS, retried for up to two minutes while another process (apt-get) holds dpkg's lock
dpkg_wait() {
    local i
    for i in $(seq 60); do
        dpkg "$@" >"$tmp/dpkg.log" 2>&1 && return 0
        grep -q "lock" "$tmp/dpkg.log" || break
        sleep 2
    done
    cat "$tmp/dpkg.log" >&2
    return 1
}

deb_test() {
    if ! make -s -C "$ROOT" deb >"$tmp/deb.log" 2>&1; then
        cat "$tmp/deb.log" >&2
        fail "make deb"
        return
    fi
    local deb="$ROOT/build-dist/vae_${version}_$(dpkg --print-architecture).deb"
    check "make deb writes $deb" [ -f "$deb" ]
    dpkg_wait -i "$deb" || { fail "dpkg -i $deb"; dpkg -r vae >/dev/null 2>&1; return; }
    check "pkg-config --libs vae after dpkg -i gives -lvae" [ "$(pkg-config --libs vae | tr -d " ")" = "-lvae" ]
    check "the packaged vae reports version $version" [ "$(vae --version)" = "vae $version (libvae $version)" ]
    check "man finds vae(1) and libvae(3)" man -w vae libvae >/dev/null
    local libdir
    libdir="$(pkg-config --variable=libdir vae)"
    check "nm -D of the packaged libvae.so lists exactly the functions of its vae.h" \
        exports_check "$libdir/libvae.so.$version" "$(pkg-config --variable=includedir vae)/vae.h"
    link_check "dpkg -i" "" ""
    check "Debian's python3 imports the packaged libvae module, version $version, over the packaged library" \
        [ "$(cd / && "$PY" -c 'import libvae, os; print(libvae.__version__, libvae.__file__, os.path.realpath(libvae._lib._name) if os.path.isabs(libvae._lib._name) else libvae._lib._name)')" \
          = "$version /usr/lib/python3/dist-packages/libvae/__init__.py $soname" ]
    local loaded
    loaded="$(ldd "$tmp/decode-shared" | awk '$1 == "'"$soname"'" {print $3}')"
    check "the loader finds the packaged libvae.so without help (found: $loaded)" \
        [ -n "$loaded" -a "$(realpath "$loaded")" = "$(realpath "$libdir/$soname")" ]
    local files
    files="$(dpkg -L vae | while read -r f; do [ -d "$f" ] || echo "$f"; done)"
    dpkg_wait -r vae || { fail "dpkg -r vae"; return; }
    local status
    status="$(dpkg-query -W -f='${Status}' vae 2>/dev/null)"
    check "dpkg -r leaves the package not installed (status: $status)" \
        [ -z "$status" -o "$status" = "unknown ok not-installed" -o "$status" = "deinstall ok not-installed" ]
    left=""
    for f in $files; do [ -e "$f" ] || [ -L "$f" ] && left="$left $f"; done
    check "dpkg -r removes every file of the package (left:$left)" [ -z "$left" ]
}
if [ "$(id -u)" -ne 0 ]; then
    echo "test_install.sh: the .deb part (dpkg -i, dpkg -r) needs root: skipped" >&2
else
    # one .deb test at a time on this machine (several worktrees may run make test at once)
    exec 9>/tmp/libvae-deb-test.lock
    flock 9
    if [ "$(dpkg-query -W -f='${Status}' vae 2>/dev/null)" = "install ok installed" ]; then
        echo "test_install.sh: a vae package is already installed on this machine: the .deb part leaves it alone" >&2
    else
        deb_test
    fi
    flock -u 9
fi
finish
