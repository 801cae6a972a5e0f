#!/bin/sh
# make check: `pip install bindings/python` works with no network
# (--no-build-isolation --no-index, Debian's setuptools and wheel): the
# package is installed with --target into a temporary directory from a
# copy of the source (the build writes into its source directory), then
# imported in a clean environment, finding the library through the
# dynamic linker's path (LD_LIBRARY_PATH here, ldconfig's cache once
# installed) and through $TETHER_LIBRARY. The py.typed marker is
# installed with it.
set -u
# No C code of ours runs here: the sanitizer builds leave it to the plain
# build's make check (CI runs both).
if [ -n "${TETHER_SANITIZERS:-}" ]; then
	echo "SKIP: checked in the build without sanitizers"
	exit 77
fi
: "${top_builddir:=.}" "${top_srcdir:=.}"
if [ -z "${PYTHON:-}" ]; then
	echo "SKIP: configured without Python"
	exit 77
fi
if ! "$PYTHON" -c 'import setuptools, wheel' 2>/dev/null ||
	! "$PYTHON" -m pip --version >/dev/null 2>&1; then
	echo "SKIP: no pip, setuptools or wheel for $PYTHON (scripts/deps.sh)"
	exit 77
fi
asan_preload= asan_options=
case "${TETHER_SANITIZERS:-}" in
*thread*)
	echo "SKIP: a ThreadSanitizer library cannot be loaded into python"
	exit 77 ;;
*address*)
	# the library needs the ASan runtime loaded first: given to the
	# imports below (pip itself runs without it)
	asan_preload=$(${CC:-cc} -print-file-name=libasan.so)
	asan_options=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS} ;;
esac
build=$(cd "$top_builddir" && pwd)
src=$(cd "$top_srcdir" && pwd)
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }

mkdir "$tmp/src"
cp -r "$src/bindings/python/tether" "$src/bindings/python/pyproject.toml" \
	"$src/bindings/python/README.md" "$tmp/src/"
rm -rf "$tmp/src/tether/__pycache__" "$tmp/src/tether/_install.py"
if (cd "$tmp" && "$PYTHON" -m pip install -q --no-build-isolation --no-index \
	--no-warn-script-location --disable-pip-version-check \
	--target "$tmp/site" ./src) >"$tmp/pip.log" 2>&1; then
	ok "pip install --no-build-isolation --no-index --target"
else
	bad "pip install"; cat "$tmp/pip.log"; exit 1
fi
[ -f "$tmp/site/tether/py.typed" ] && ok "py.typed installed" || bad "no py.typed"
ls -d "$tmp/site"/tether-*.dist-info >/dev/null 2>&1 && ok "dist-info" || bad "no dist-info"

# import it from a clean environment: the library from the linker's path
want=$("$build/tools/tether" version 2>/dev/null | sed -n 's/^tether \([0-9.]*\).*/\1/p' | head -n 1)
(cd / && env -i PATH=/usr/bin:/bin PYTHONPATH="$tmp/site" \
	LD_LIBRARY_PATH="$build/.libs" ${asan_preload:+LD_PRELOAD="$asan_preload"} \
	${asan_options:+ASAN_OPTIONS="$asan_options"} PYTHONDONTWRITEBYTECODE=1 \
	"$PYTHON" -c 'import tether, sys
print(tether.__file__, tether.version(), tether.library_path())
sys.exit(not hasattr(tether.Manager, "aevents"))') >"$tmp/out" 2>&1
line=$(cat "$tmp/out")
case "$line" in
"$tmp/site/tether/__init__.py $want "*) ok "imports the installed package, library $want found ($line)" ;;
*) bad "import with the linker's path: '$line' (want version '$want')" ;;
esac
# and with TETHER_LIBRARY, exactly that library
(cd / && env -i PATH=/usr/bin:/bin PYTHONPATH="$tmp/site" \
	TETHER_LIBRARY="$build/.libs/libtether.so.0" ${asan_preload:+LD_PRELOAD="$asan_preload"} \
	${asan_options:+ASAN_OPTIONS="$asan_options"} PYTHONDONTWRITEBYTECODE=1 \
	"$PYTHON" -c 'import tether; print(tether.library_path())') >"$tmp/out2" 2>&1
[ "$(cat "$tmp/out2")" = "$build/.libs/libtether.so.0" ] && ok "TETHER_LIBRARY honoured" \
	|| { bad "TETHER_LIBRARY"; cat "$tmp/out2"; }
exit $fail
