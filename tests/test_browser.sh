#!/usr/bin/env bash
# test_browser.sh: `vae serve`'s page in a real browser (tests/browser/explorer.js).
#
# Trains a tiny VAE and autoencoder with a 2-D latent (784-64-2, 1,000 MNIST training images, 2 epochs),
# starts `vae serve --model VAE --compare AE --data ... --port 0` (a free port; the URL is read from its
# first line), and runs explorer.js in Debian's headless chromium through playwright-core: points drawn on
# both pads, a drag that changes the decoded image, a stroke whose encoding appears on the pad, an
# interpolation strip, a prior sample, no console error. Then SIGINT stops the server: exit 130 within
# 5 seconds, "stopped by SIGINT" on stderr. SCREENSHOT=path keeps the page's screenshot.
#
# Needs node, /usr/bin/chromium (scripts/setup installs both) and node_modules/playwright-core (`make test`
# runs npm ci; package-lock.json pins it): a missing one is a failure, except chromium on a machine whose
# Debian has no chromium package (then one SKIP line). Prints "N passed, N failed" last.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"
need_vae

if [ ! -x /usr/bin/chromium ]; then
    if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        echo "SKIP: Debian has no chromium package for this machine ($(dpkg --print-architecture 2>/dev/null)): no browser test" >&2
        finish
    fi
    fail "/usr/bin/chromium is missing: run scripts/setup (it installs chromium)"
    finish
fi
command -v node >/dev/null || { fail "node is missing: run scripts/setup (it installs nodejs)"; finish; }
[ -f "$ROOT/node_modules/playwright-core/package.json" ] ||
    { fail "node_modules/playwright-core is missing: run npm ci in $ROOT (make test does)"; finish; }
need_mnist

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_browser.XXXXXX")"
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

subset "$ROOT/data/mnist" "$tmp/data" 1000 300
for kind in vae ae; do
    flags=(--hidden 64 --latent 2 --epochs 2 --threads 1)
    [ "$kind" = ae ] && flags+=(--ae)
    "$VAE" train --data "$tmp/data" --out "$tmp/$kind" "${flags[@]}" >/dev/null 2>"$tmp/err" ||
        { fail "vae train $kind: $(tail -n 1 "$tmp/err")"; finish; }
done

"$VAE" serve --model "$tmp/vae/model.safetensors" --compare "$tmp/ae/model.safetensors" --data "$tmp/data" \
    --port 0 >"$tmp/out" 2>"$tmp/serve-err" &
pid=$!
url=""
for _ in $(seq 100); do
    url="$(sed -n 's/^vae serve: \(http:[^ ]*\) .*/\1/p' "$tmp/out")"
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
check "vae serve prints its URL ($(cat "$tmp/serve-err"))" [ -n "$url" ]
[ -n "$url" ] || finish

shot="${SCREENSHOT:-$tmp/explorer.png}"
(cd "$ROOT" && timeout 120 node tests/browser/explorer.js "$url" "$shot" --compare) >"$tmp/browser" 2>&1
rc=$?
while IFS= read -r line; do
    case "$line" in
    ok\ *) ok ;;
    FAIL:*) fail "browser: ${line#FAIL: }" ;;
    esac
done <"$tmp/browser"
if [ "$rc" -ne 0 ] && ! grep -q '^FAIL:' "$tmp/browser"; then
    fail "explorer.js exit status $rc: $(tail -n 3 "$tmp/browser")"
fi
check "explorer.js ran every check" [ "$(grep -c -E '^(ok |FAIL:)' "$tmp/browser")" -ge 9 ]
check "a screenshot was saved" [ -s "$shot" ]

kill -INT "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    fail "the server still runs 5 s after SIGINT"
    kill -9 "$pid"
fi
wait "$pid"
rc=$?
pid=""
check "SIGINT stops the server with exit status 130 (got $rc)" [ "$rc" -eq 130 ]
check "the server says it stopped" grep -q "stopped by SIGINT" "$tmp/serve-err"
finish
