#!/bin/sh
# The ABI check: compare a built libtether.so.0 with the baseline committed
# in abi/ (Debian's abigail-tools: abidw, abidiff). Fails on a change that
# breaks programs built against the baseline (a function removed or its
# signature changed, a public struct's layout changed other than by a
# member appended where abi/libtether.abignore allows it), unless the
# soname changed too. Added functions pass. docs/packaging.md says when to
# refresh the baseline.
#
# Usage: scripts/abi-check.sh [LIBRARY]           check (default: the tree
#                                                 build's .libs/libtether.so.0)
#        scripts/abi-check.sh --update [LIBRARY]  rewrite the baseline
# The library must carry debug information (the default -g of configure).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
base="$top/abi/libtether.so.0.abi"
supp="$top/abi/libtether.abignore"
headers="$top/include/tether"
update=no
if [ "${1:-}" = --update ]; then
	update=yes
	shift
fi
lib=${1:-$top/.libs/libtether.so.0}
[ -f "$lib" ] || { echo "abi-check: $lib not found: build first" >&2; exit 1; }

if [ "$update" = yes ]; then
	# No paths of this machine in the file: it is committed.
	abidw --no-corpus-path --no-comp-dir-path --no-show-locs \
		--drop-private-types --type-id-style hash \
		--headers-dir "$headers" --out-file "$base" "$lib"
	echo "abi-check: wrote $base from $lib"
	exit 0
fi

soname() { sed -n "s/.*soname='\([^']*\)'.*/\1/p" "$1" | head -n 1; }
base_soname=$(soname "$base")
new_soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
[ -n "$base_soname" ] && [ -n "$new_soname" ] ||
	{ echo "abi-check: no soname in $base or $lib" >&2; exit 1; }

report=$(mktemp)
trap 'rm -f "$report"' EXIT
rc=0
abidiff --fail-no-debug-info --no-added-syms \
	--suppressions "$supp" \
	"$base" "$lib" >"$report" 2>&1 || rc=$?
# abidiff's status is a bit field: 1 an error, 2 a usage error, 4 an ABI
# change, 8 an incompatible one.
if [ $((rc & 3)) -ne 0 ]; then
	cat "$report"
	echo "abi-check: abidiff failed (status $rc)" >&2
	exit 1
fi
if [ "$rc" -eq 0 ]; then
	echo "abi-check: $new_soname is compatible with the baseline ($base_soname)"
	exit 0
fi
cat "$report"
if [ "$new_soname" != "$base_soname" ]; then
	echo "abi-check: the changes above come with a new soname ($base_soname -> $new_soname): allowed; refresh the baseline (scripts/abi-check.sh --update)"
	exit 0
fi
echo "abi-check: $new_soname changed its ABI incompatibly (above) without a new soname: keep the old interface, or change the soname (configure.ac's TETHER_LT_VERSION) and refresh the baseline (docs/packaging.md)" >&2
exit 1
