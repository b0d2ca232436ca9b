#!/usr/bin/env bash
# test_cli_docs.sh: `vae CMD --help`, docs/cli.md and the man page (`vae --man`, installed as vae.1) name the
# same subcommands and, for each, the same flags.
#
# --help and the man page come from the same flag tables; docs/cli.md is written by hand, so this test is
# what catches a flag or subcommand added to the tool and not to the docs (or left in the docs after it is
# gone). Each difference is reported as one line naming the subcommand, the flag and where it is missing.
#
# Needs VAE (the vae binary) and ROOT (the repository root) in the environment (scripts/run-tests sets
# them). Prints "N passed, N failed" last; exits non-zero on failure.
set -uo pipefail

VAE="${VAE:-build/vae}"
ROOT="${ROOT:-.}"
DOC="$ROOT/docs/cli.md"
. "$(dirname "${BASH_SOURCE[0]}")/shell-lib.bash"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test_cli_docs.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

need_vae
"$VAE" --man >"$tmp/vae.1" || { fail "vae --man exits non-zero"; finish; }
sed -i 's/\\-/-/g' "$tmp/vae.1" # troff's escaped hyphens as plain ones

# The subcommands, each from where it is listed: vae --help, the headings "### vae CMD" of docs/cli.md,
# the subsections .SS "vae CMD" of the man page.
"$VAE" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}' | sort >"$tmp/cmds.help"
sed -n 's/^### vae \([a-z0-9-]*\).*/\1/p' "$DOC" | sort >"$tmp/cmds.doc"
sed -n 's/^\.SS "vae \(.*\)"$/\1/p' "$tmp/vae.1" | sort >"$tmp/cmds.man"
[ -s "$tmp/cmds.help" ] || { fail "vae --help lists no subcommands"; finish; }

# compare WHAT A_NAME A_FILE B_NAME B_FILE: one line per item of A missing from B; passes when none is
compare() {
    local what="$1" an="$2" af="$3" bn="$4" bf="$5" missing
    missing="$(comm -23 "$af" "$bf")"
    if [ -n "$missing" ]; then
        while read -r item; do fail "$what: $item is in $an but not in $bn"; done <<<"$missing"
    else
        ok
    fi
}
compare "subcommand" "vae --help" "$tmp/cmds.help" "docs/cli.md (### vae CMD)" "$tmp/cmds.doc"
compare "subcommand" "docs/cli.md (### vae CMD)" "$tmp/cmds.doc" "vae --help" "$tmp/cmds.help"
compare "subcommand" "vae --help" "$tmp/cmds.help" "the man page" "$tmp/cmds.man"
compare "subcommand" "the man page" "$tmp/cmds.man" "vae --help" "$tmp/cmds.help"

# Flags of each subcommand: the lines "  --flag ..." of --help and of docs/cli.md's first code block after
# the subcommand's heading, and the ".B --flag" lines after the man page's .SS of the subcommand.
while read -r cmd; do
    "$VAE" "$cmd" --help | awk '/^  --/ {print $1}' | sort >"$tmp/help"
    awk -v h="### vae $cmd" '$0 == h || index($0, h " ") == 1 {sec = 1; next}
        sec && /^### / {exit}
        sec && /^```/ {if (code) exit; code = 1; next}
        code && /^  --/ {print $1}' "$DOC" | sort >"$tmp/doc"
    awk -v h=".SS \"vae $cmd\"" '$0 == h {sec = 1; next} sec && /^\.S[SH] / {exit}
        sec && prev == ".TP" && /^\.B / {print $2} {prev = $0}' "$tmp/vae.1" |
        sort >"$tmp/man"
    [ -s "$tmp/help" ] || fail "vae $cmd --help lists no flags"
    if grep -qx "$cmd" "$tmp/cmds.doc"; then
        compare "vae $cmd" "--help" "$tmp/help" "docs/cli.md" "$tmp/doc"
        compare "vae $cmd" "docs/cli.md" "$tmp/doc" "--help" "$tmp/help"
    fi
    compare "vae $cmd" "--help" "$tmp/help" "the man page" "$tmp/man"
    compare "vae $cmd" "the man page" "$tmp/man" "--help" "$tmp/help"
done <"$tmp/cmds.help"
finish
