#!/bin/sh
# Build the libFuzzer targets of fuzz/ with clang (ASan + UBSan + libFuzzer)
# and run them for a bounded time.
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
#
# SECONDS (default 60) bounds the run (-max_total_time). Leak detection is
# on; a crash, leak, timeout (>10 s on one input) or UBSan report fails the
# run (exit 1) and leaves the input in $FUZZ_BUILD/artifacts. The corpus
# grows in $FUZZ_BUILD/corpus (seeded from fuzz/corpus); the source tree is
# not written to. Needs clang and libclang-rt-14-dev (scripts/deps.sh).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
build=${FUZZ_BUILD:-$top/build-libfuzzer}
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

command -v "$CC" >/dev/null 2>&1 || { echo "fuzz.sh: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

# The library, out of tree, instrumented for coverage (fuzzer-no-link).
# A VPATH build needs an unconfigured source tree (as scripts/test.sh).
mkdir -p "$build"
if [ ! -f "$build/Makefile" ]; then
	[ -f configure ] || autoreconf -fi >/dev/null 2>&1
	(cd "$build" && "$top/configure" -q CC="$CC" --disable-shared \
		CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $SAN" \
		LDFLAGS="$SAN") >"$build/configure.out" 2>&1 ||
		{ cat "$build/configure.out"; exit 1; }
fi
make -C "$build" -j2 libtether-internal.la >"$build/make.out" 2>&1 ||
	{ tail -40 "$build/make.out"; exit 1; }

libs="$(pkg-config --libs yaml-0.1 libwebsockets libuv) -lpaho-mqtt3as -lssl -lcrypto -pthread -lm"
"$CC" -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer $SAN \
	-I"$build" -I"$top/include" -I"$top/core/base" -I"$top/core/sansio" -I"$top/core/store" \
	-I"$top/core/runtime" -I"$top/core/config" \
	"$top/fuzz/config_fuzz.c" "$build/.libs/libtether-internal.a" $libs \
	-o "$build/config_fuzz"

# Seeds: fuzz/corpus and tests/data/config (read-only); new inputs go to
# $build/corpus. The valid files name secrets and a CA file relative to the
# current directory and TETHER_TEST_PASSWORD: made here, as the suite does.
mkdir -p "$build/corpus" "$build/artifacts" "$build/run/certs"
log="$build/config_fuzz.log"
for f in mqtt-password.txt key-password.txt ca.pem client.pem client.key; do
	echo "fuzz-$f" >"$build/run/$f"
	chmod 600 "$build/run/$f"
done
export TETHER_TEST_PASSWORD=fuzz-password
status=0
# stdin from /dev/null: a file that names /dev/stdin as a secret must not
# wait for a terminal.
cd "$build/run"
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
	"$build/config_fuzz" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-detect_leaks=1 -print_final_stats=1 \
	-artifact_prefix="$build/artifacts/" \
	-dict="$top/fuzz/config.dict" \
	"$@" "$build/corpus" "$top/fuzz/corpus" \
	"$top/tests/data/config/valid" "$top/tests/data/config/invalid" \
	</dev/null >"$log" 2>&1 || status=$?

# Short output: the last status line and the final stats.
grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
if [ "$status" -ne 0 ]; then
	echo "fuzz.sh: config_fuzz failed (exit $status); the end of $log:" >&2
	tail -n 60 "$log" >&2
	exit 1
fi
echo "fuzz.sh: config_fuzz ran ${secs}s with no crash, leak or timeout"
