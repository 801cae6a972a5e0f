#!/bin/sh
# make check: the Python binding's pytest suite, against the library of
# this build tree and the test harness's real peers (mosquitto, the lws
# WebSocket server, the fault proxy), all on 127.0.0.1.
set -u
: "${top_builddir:=.}" "${top_srcdir:=.}"
if [ -z "${PYTHON:-}" ]; then
	echo "SKIP: configured without Python"
	exit 77
fi
if ! "$PYTHON" -c 'import pytest' 2>/dev/null; then
	echo "SKIP: no pytest for $PYTHON (apt-get install python3-pytest)"
	exit 77
fi
build=$(cd "$top_builddir" && pwd)
src=$(cd "$top_srcdir" && pwd)
case "${TETHER_SANITIZERS:-}" in
*thread*)
	echo "SKIP: a ThreadSanitizer library cannot be loaded into python"
	exit 77 ;;
*address*)
	# The library needs the ASan runtime loaded first; the interpreter's
	# own allocations are not ours to check for leaks.
	LD_PRELOAD=$(${CC:-cc} -print-file-name=libasan.so)
	ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
	export LD_PRELOAD ASAN_OPTIONS ;;
esac
TETHER_LIBRARY="$build/.libs/libtether.so.0"
TETHER_TEST_WSSERVER="$build/tests/harness/wsserver"
TETHER_TEST_FAULTPROXY="$build/tests/harness/faultproxy"
TETHER_TEST_INCLUDE="$src/include"
TETHER_TEST_CC="${CC:-cc}"
PYTHONPATH="$src/bindings/python"
PYTHONDONTWRITEBYTECODE=1
export TETHER_LIBRARY TETHER_TEST_WSSERVER TETHER_TEST_FAULTPROXY \
	TETHER_TEST_INCLUDE TETHER_TEST_CC PYTHONPATH PYTHONDONTWRITEBYTECODE
# -p no:cacheprovider: distcheck's source tree is read-only
exec "$PYTHON" -m pytest -v -rs -p no:cacheprovider \
	-c "$src/bindings/python/pytest.ini" --rootdir "$src/bindings/python" \
	"$src/bindings/python/tests"
