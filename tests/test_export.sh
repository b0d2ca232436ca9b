#!/usr/bin/env bash
# test_export.sh: `vae encode`, `vae decode` and `vae export-c` end to end.
#
# Trains two small models on a subset of real MNIST (data/mnist: 10000 training, 500 test images):
# 784-64-4 (Bernoulli, ReLU) and a conditional 784-48-32-3 (Gaussian, tanh). For each, exports the decoder
# as C99 in float32 and int8, compiles it with -std=c99 -Wall -Wextra -Werror and a small driver, and
# compares the driver's output with `vae decode --out x.csv` for several z: float32 within 1e-5 (max abs),
# int8 mean absolute error under 4/255 (reported). Also checks encode's CSV and decode's errors.
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
VAE="$(cd "$(dirname "$VAE")" && pwd)/$(basename "$VAE")"
CC="${CC:-cc}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_export.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT


need_vae
need_mnist
data="$tmp/mnist"
subset "$ROOT/data/mnist" "$data" 10000 500

# The driver: reads "label,z1,...,zZ" lines (label -1 for a model that is not conditional) and prints one
# row of VAE_DECODER_D values per line, %.9g, like `vae decode --out x.csv`.
cat >"$tmp/driver.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae_decoder.h"

int main(void) {
    static char line[1 << 16];
    static float z[VAE_DECODER_INPUTS], out[VAE_DECODER_D];
    while (fgets(line, sizeof line, stdin)) {
        char *p = line, *end;
        int label = (int)strtol(p, &end, 10);
        for (int i = 0; i < VAE_DECODER_Z; i++) {
            if (*end != ',') return 2;
            p = end + 1;
            z[i] = strtof(p, &end);
        }
#if VAE_DECODER_CLASSES > 0
        if (vae_decoder_decode_label(z, label, out) != 0) return 3;
#else
        if (label != -1) return 3;
        vae_decoder_decode(z, out);
#endif
        for (int i = 0; i < VAE_DECODER_D; i++) printf(i ? ",%.9g" : "%.9g", out[i]);
        putchar('\n');
    }
    return 0;
}
EOF

# stats A B: "max_abs mean_abs" over all values of two CSVs of numbers with the same shape
stats() {
    awk -F, 'NR == FNR { for (i = 1; i <= NF; i++) a[FNR, i] = $i; rows = FNR; next }
             { for (i = 1; i <= NF; i++) { d = $i - a[FNR, i]; if (d < 0) d = -d; if (d > mx) mx = d; s += d; n++ }
               if (FNR > rows) bad = 1 }
             END { if (n == 0 || FNR != rows || bad) { print "shape"; exit } printf "%.3g %.3g\n", mx, s / n }' "$1" "$2"
}

# ---------------------------------------------------------------- two small models

train() { # train NAME FLAGS...: a 1-epoch run into $tmp/NAME
    local name="$1"
    shift
    "$VAE" train --data "$data" --out "$tmp/$name" --epochs 1 --batch 100 --threads 1 "$@" >"$tmp/$name.log" 2>&1
}
check "train the Bernoulli model" train bern --hidden 64 --latent 4
check "train the conditional Gaussian model" train gauss --hidden 48,32 --latent 3 --conditional \
    --likelihood gaussian --activation tanh
for m in bern gauss; do
    [ -f "$tmp/$m/model.safetensors" ] || { fail "$m: no model written"; finish; }
done

# ---------------------------------------------------------------- encode

"$VAE" encode --model "$tmp/bern/model.safetensors" --data "$data" --out "$tmp/enc.csv" --n 7 2>"$tmp/err"
check "encode exits 0" [ $? -eq 0 ]
check "encode header" [ "$(head -n 1 "$tmp/enc.csv")" = "index,label,mu_1,mu_2,mu_3,mu_4,logvar_1,logvar_2,logvar_3,logvar_4" ]
check "encode writes 7 rows" [ "$(wc -l <"$tmp/enc.csv")" -eq 8 ]
check "encode rows have 10 columns" [ "$(awk -F, 'NR > 1 && NF != 10' "$tmp/enc.csv" | wc -l)" -eq 0 ]
# the first test labels of MNIST are 7, 2, 1, 0, 4, 1, 4
check "encode labels" [ "$(awk -F, 'NR > 1 { printf "%s", $2 }' "$tmp/enc.csv")" = "7210414" ]
"$VAE" encode --model "$tmp/bern/model.safetensors" --data "$data" --out "$tmp/enc-all.csv" --split train >/dev/null 2>&1
check "encode --split train writes every image" [ "$(wc -l <"$tmp/enc-all.csv")" -eq 10001 ]
# (the same run twice gives the same bytes; a different --n may differ in the last bits, since the BLAS
# may sum a batch of 7 rows in another order than a batch of 1000)
"$VAE" encode --model "$tmp/bern/model.safetensors" --data "$data" --out "$tmp/enc-all2.csv" --split train >/dev/null 2>&1
check "encode is deterministic" cmp -s "$tmp/enc-all.csv" "$tmp/enc-all2.csv"
# no label files: label -1
mkdir -p "$tmp/nolabels"
cp "$data/t10k-images-idx3-ubyte" "$data/train-images-idx3-ubyte" "$tmp/nolabels/"
"$VAE" encode --model "$tmp/bern/model.safetensors" --data "$tmp/nolabels" --out "$tmp/enc-nl.csv" --n 3 2>/dev/null
check "encode without labels writes label -1" [ "$(awk -F, 'NR > 1 { printf "%s;", $2 }' "$tmp/enc-nl.csv")" = "-1;-1;-1;" ]
"$VAE" encode --model "$tmp/gauss/model.safetensors" --data "$tmp/nolabels" --out "$tmp/enc-nl.csv" 2>"$tmp/err"
check "encode: a conditional model without labels exits 2" [ $? -eq 2 ]
"$VAE" encode --model "$tmp/bern/model.safetensors" --data "$data" --out "$tmp/e.csv" --n 501 2>"$tmp/err"
check "encode --n past the split exits 2" [ $? -eq 2 ]
check "  and names --n" grep -q -- "--n" "$tmp/err"
"$VAE" encode --model "$tmp/bern/model.safetensors" --data "$data" --out "$tmp/no/such/dir/e.csv" 2>"$tmp/err"
check "encode to an unwritable path exits 2" [ $? -eq 2 ]
"$VAE" encode --model "$tmp/missing.safetensors" --data "$data" --out "$tmp/e.csv" 2>"$tmp/err"
check "encode with a missing model exits 2" [ $? -eq 2 ]
check "  and names the file" grep -q "missing.safetensors" "$tmp/err"
"$VAE" encode --help >"$tmp/help"
check "encode --help lists --split with its default" grep -q -- "--split.*default: test" "$tmp/help"

# ---------------------------------------------------------------- decode

bm="$tmp/bern/model.safetensors"
"$VAE" decode --model "$bm" --z "0.5,-1,0.25,2" --out "$tmp/x.csv" 2>"$tmp/err"
check "decode .csv exits 0" [ $? -eq 0 ]
check "decode .csv writes one row of 784 values" [ "$(awk -F, '{ print NR ":" NF }' "$tmp/x.csv")" = "1:784" ]
check "decode .csv values in [0, 1]" [ "$(tr , '\n' <"$tmp/x.csv" | awk '$1 < 0 || $1 > 1' | wc -l)" -eq 0 ]
"$VAE" decode --model "$bm" --z "0.5,-1,0.25,2" --out "$tmp/x.png" 2>"$tmp/err"
check "decode .png exits 0" [ $? -eq 0 ]
check "decode .png is a PNG" [ "$(head -c 8 "$tmp/x.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
check "decode .png is 28x28 scaled by 4" [ "$(od -An -tu1 -j16 -N8 "$tmp/x.png" | tr -s ' ')" = " 0 0 0 112 0 0 0 112" ]
"$VAE" decode --model "$bm" --z "0.5,-1,0.25" --out "$tmp/x.csv" 2>"$tmp/err"
check "decode with 3 of 4 values exits 2" [ $? -eq 2 ]
check "  and names --z" grep -q -- "--z" "$tmp/err"
"$VAE" decode --model "$bm" --z "0.5,-1,0.25,2,1" --out "$tmp/x.csv" 2>"$tmp/err"
check "decode with 5 of 4 values exits 2" [ $? -eq 2 ]
"$VAE" decode --model "$bm" --z "0.5,x,0.25,2" --out "$tmp/x.csv" 2>"$tmp/err"
check "decode with a non-number exits 2" [ $? -eq 2 ]
"$VAE" decode --model "$bm" --z "0.5,-1,0.25,2" --out "$tmp/x.txt" 2>"$tmp/err"
check "decode to .txt exits 2" [ $? -eq 2 ]
"$VAE" decode --model "$bm" --z "0.5,-1,0.25,2" --out "$tmp/x.csv" --label 1 2>"$tmp/err"
check "decode --label on a model that is not conditional exits 2" [ $? -eq 2 ]
gm="$tmp/gauss/model.safetensors"
"$VAE" decode --model "$gm" --z "0.5,-1,0.25" --out "$tmp/x.csv" 2>"$tmp/err"
check "decode of a conditional model without --label exits 2" [ $? -eq 2 ]
check "  and names --label" grep -q -- "--label" "$tmp/err"
"$VAE" decode --model "$gm" --z "0.5,-1,0.25" --out "$tmp/x.csv" --label 10 2>"$tmp/err"
check "decode --label past the classes exits 2" [ $? -eq 2 ]
"$VAE" decode --model "$gm" --z "0.5,-1,0.25" --out "$tmp/x3.csv" --label 3 2>"$tmp/err"
"$VAE" decode --model "$gm" --z "0.5,-1,0.25" --out "$tmp/x5.csv" --label 5 2>>"$tmp/err"
if [ -s "$tmp/x3.csv" ] && [ -s "$tmp/x5.csv" ] && ! cmp -s "$tmp/x3.csv" "$tmp/x5.csv"; then ok; else
    fail "decode of a conditional model depends on the label"; fi
"$VAE" decode --help >"$tmp/help"
check "decode --help lists --scale with its default" grep -q -- "--scale.*default: 4" "$tmp/help"

# ---------------------------------------------------------------- export-c

# z vectors to compare on: zeros, the encoded mu of test images, and spread values
zs="$tmp/zs"
: >"$zs"
for m in bern gauss; do
    Z=$([ $m = bern ] && echo 4 || echo 3)
    K=$([ $m = bern ] && echo 0 || echo 10)
    {
        echo "0 $(printf '0%.0s,' $(seq "$Z") | sed 's/,$//')"
        "$VAE" encode --model "$tmp/$m/model.safetensors" --data "$data" --n 5 --out /dev/stdout 2>/dev/null |
            awk -F, -v Z="$Z" 'NR > 1 { s = $3; for (i = 4; i < 3 + Z; i++) s = s "," $i; print NR - 2, s }'
        awk -v Z="$Z" 'BEGIN { for (r = 0; r < 3; r++) { s = ""; for (i = 0; i < Z; i++) s = s (i ? "," : "") (1.7 * ((r * 7 + i * 3) % 5 - 2)); print r + 3, s } }'
    } | while read -r idx z; do
        label=$([ "$K" -gt 0 ] && echo $((idx % K)) || echo -1)
        echo "$m $label $z"
    done >>"$zs"
done

for m in bern gauss; do
    label_flag() { [ "$1" -ge 0 ] && echo "--label $1"; }
    : >"$tmp/$m-ref.csv"
    : >"$tmp/$m-in.txt"
    grep "^$m " "$zs" | while read -r _ label z; do
        # shellcheck disable=SC2046
        "$VAE" decode --model "$tmp/$m/model.safetensors" --z "$z" $(label_flag "$label") --out "$tmp/one.csv" || exit 1
        cat "$tmp/one.csv" >>"$tmp/$m-ref.csv"
        echo "$label,$z" >>"$tmp/$m-in.txt"
    done
    check "$m: vae decode for every z" [ $? -eq 0 ]
    for variant in float32 int8; do
        out="$tmp/$m-$variant"
        flag=$([ $variant = int8 ] && echo --int8)
        # shellcheck disable=SC2086
        "$VAE" export-c --model "$tmp/$m/model.safetensors" --out "$out" $flag >"$tmp/export.log" 2>&1
        check "$m $variant: export-c exits 0" [ $? -eq 0 ]
        if [ -s "$out/vae_decoder.h" ] && [ -s "$out/vae_decoder.c" ]; then ok; else
            fail "$m $variant: no vae_decoder.h and vae_decoder.c in $out"; continue; fi
        check "$m $variant: the source includes only <math.h>" \
            [ "$(grep '#include' "$out/vae_decoder.c" | tr '\n' ' ')" = '#include <math.h> #include "vae_decoder.h" ' ]
        if ! "$CC" -std=c99 -Wall -Wextra -Werror -pedantic -O2 -I"$out" -o "$out/driver" "$tmp/driver.c" \
            "$out/vae_decoder.c" -lm 2>"$tmp/cc.log"; then
            fail "$m $variant: the export does not compile with -std=c99 -Wall -Wextra -Werror -pedantic"
            cat "$tmp/cc.log" >&2
            continue
        fi
        ok
        "$out/driver" <"$tmp/$m-in.txt" >"$tmp/$m-$variant.csv"
        check "$m $variant: the driver runs" [ $? -eq 0 ]
        read -r mx mean < <(stats "$tmp/$m-ref.csv" "$tmp/$m-$variant.csv")
        n_z=$(wc -l <"$tmp/$m-in.txt")
        if [ $variant = float32 ]; then
            echo "$m float32 export vs vae decode over $n_z z: max abs diff $mx, mean abs diff $mean"
            check "$m float32: max abs diff $mx <= 1e-5" awk -v d="$mx" 'BEGIN { exit !(d != "shape" && d <= 1e-5) }'
        else
            echo "$m int8 export vs vae decode over $n_z z: mean abs diff $mean (= $(awk -v d="$mean" 'BEGIN { printf "%.2f", d * 255 }')/255), max abs diff $mx"
            check "$m int8: mean abs diff $mean < 4/255" awk -v d="$mean" 'BEGIN { exit !(d != "shape" && d < 4 / 255) }'
        fi
        echo "$m $variant: $(cat "$tmp/export.log")"
    done
done

"$VAE" export-c --model "$bm" --out "$tmp/bern-float32/vae_decoder.c" 2>"$tmp/err"
check "export-c --out naming a file exits 2" [ $? -eq 2 ]
"$VAE" export-c --model "$tmp/nothing" --out "$tmp/ex" 2>"$tmp/err"
check "export-c with a missing model exits 2" [ $? -eq 2 ]
"$VAE" export-c --help >"$tmp/help"
check "export-c --help lists --int8" grep -q -- "--int8" "$tmp/help"

finish
