#!/bin/sh
# make check: the Python package and its examples pass `mypy --strict`
# (Debian's mypy; pyproject.toml's [tool.mypy] says the same). Skips
# (77) when mypy is not installed; scripts/deps.sh installs it.
set -u
# No C code of ours runs here: the sanitizer builds leave it to the plain
# build's make check (CI runs both).
if [ -n "${TETHER_SANITIZERS:-}" ]; then
	echo "SKIP: checked in the build without sanitizers"
	exit 77
fi
: "${top_srcdir:=.}"
MYPY=$(command -v mypy || echo /usr/bin/mypy)
[ -x "$MYPY" ] || { echo "SKIP: mypy not installed (scripts/deps.sh)"; exit 77; }
src=$(cd "$top_srcdir/bindings/python" && pwd)
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
# the cache goes to a temporary directory: distcheck's tree is read-only
cd "$src" && "$MYPY" --strict --cache-dir "$tmp/cache" --no-error-summary \
	tether examples && echo "ok - mypy --strict tether examples"
