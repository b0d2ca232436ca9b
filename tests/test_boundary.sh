#!/usr/bin/env bash
# test_boundary.sh: the library boundary (issue 11 item 6). build/libvae.a is the core (ops, layers, model,
# objectives, optimizer, checkpoint) and needs nothing but BLAS, cJSON, OpenMP and libc/libm; the data
# readers, pictures and the trainer live in build/libvae-tools.a. A program that only loads and decodes
# (examples/decode) links the core alone: no zlib, cairo, stb_image, PNG or data-reader code in it.
#
# Needs VAE (the vae binary, whose folder holds the archives and examples/decode) in the environment
# (scripts/run-tests sets it). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
build="$(dirname "$VAE")"
dec="$build/examples/decode"
core="$build/libvae.a"
tools="$build/libvae-tools.a"
for f in "$dec" "$core" "$tools"; do [ -e "$f" ] || { fail "missing $f (run make)"; finish; }; done
if ! command -v nm >/dev/null || ! command -v ldd >/dev/null; then fail "nm and ldd (binutils, libc-bin) are needed"; finish; fi

# the decode example's shared libraries and symbols
libs="$(ldd "$dec" | awk '{print $1}')"
for lib in libz libcairo libstb libpng libjpeg libfreetype; do
    check "examples/decode does not load $lib" bash -c "! grep -q '^$lib' <<<'$libs'"
done
syms="$(nm "$dec")"
for pat in ' gz' ' inflate' ' crc32' ' cairo_' ' stbi_' ' vae_dataset_' ' vae_csv_' ' vae_idx_' ' vae_image_folder' \
    ' vae_trainer_' ' vae_train_state_' ' vae_write_mosaic' ' vae_plot_'; do
    check "examples/decode holds no '${pat# }' symbol" bash -c "! grep -q -- '$pat' <<<\"\$(nm '$dec')\""
done
check "examples/decode does hold the core (vae_load, vae_decode)" bash -c "grep -q ' T vae_load$' <<<'$syms' && grep -q ' T vae_decode$' <<<'$syms'"

# the core archive needs nothing the tools archive defines, and nothing from zlib, cairo or stb
undefined="$(nm -u "$core" | awk '{print $NF}' | sort -u)"
tools_defined="$(nm -g --defined-only "$tools" | awk 'NF == 3 {print $3}' | sort -u)"
both="$(comm -12 <(echo "$undefined") <(echo "$tools_defined") | tr '\n' ' ')"
check "libvae.a needs nothing of libvae-tools.a (needs: $both)" [ -z "$both" ]
external="$(grep -E '^(gz|inflate|deflate|crc32|adler32|cairo_|stbi)' <<<"$undefined" | tr '\n' ' ')"
check "libvae.a needs no zlib, cairo or stb symbol (needs: $external)" [ -z "$external" ]
for o in data.o image.o pictures_lib.o train.o train_state.o; do
    check "$o is in libvae-tools.a, not in the core" bash -c "ar t '$tools' | grep -qx '$o' && ! ar t '$core' | grep -qx '$o'"
done
check "checkpoint.h does not include train.h" bash -c "! grep -q '#include \"train.h\"' '$ROOT/src/checkpoint.h'"

# and the example still works: train nothing, decode a model written by the CLI
tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_boundary.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
if "$VAE" train --data "$ROOT/tests/fixtures/tiny-idx" --out "$tmp/run" --epochs 1 --batch 3 --hidden 4 --latent 2 \
    --threads 1 >/dev/null 2>&1; then
    check "examples/decode decodes a checkpoint" bash -c "'$dec' '$tmp/run/model.safetensors' '0.5,-1' '$tmp/x.pgm' >/dev/null && [ -s '$tmp/x.pgm' ]"
else
    fail "training the tiny model"
fi
finish
