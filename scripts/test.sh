#!/bin/sh
# Everything CI runs: dependencies, every suite under ASan/UBSan, the
# threaded suites under TSan, a 60 s libFuzzer run on the config loader,
# the -Werror build with every suite, the man pages and the ABI check, the
# benchmarks (make bench and a storm smoke run), make distcheck, the Debian
# packages built from its tarball, install checks (into a staging
# directory, and README's make install into /usr/local and back out), then
# the unit suites under valgrind. Ends with one "N passed, N failed" line
# counting the Check tests.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
# "stage: NAME took N s (N s in all)" after each stage, to see where CI's
# time goes.
t_start=$(date +%s)
t_stage=$t_start
stage() {
	now=$(date +%s)
	echo "stage: $1 took $((now - t_stage)) s ($((now - t_start)) s in all)"
	t_stage=$now
}
sh scripts/deps.sh
stage deps
JOBS="-j2"

autoreconf -fi
[ -f Makefile ] && make distclean >/dev/null

# The unit suites with sanitizers, out of tree (first: a VPATH build needs
# an unconfigured source tree).
rm -rf "$top/build-san"
mkdir "$top/build-san"
# The zero-loss runs send 20,000 messages here; the full 100,000 run in the
# -Werror stage below.
(cd "$top/build-san" && "$top/configure" --enable-werror --enable-sanitizers -q &&
	make $JOBS && TETHER_ZEROLOSS_N=20000 make $JOBS check) ||
	{ cat "$top/build-san/test-suite.log"; exit 1; }
stage "ASan/UBSan build and make check"

# ThreadSanitizer on the suites with threads (runtime, transports), out of
# tree, in one process per suite.
rm -rf "$top/build-tsan"
mkdir "$top/build-tsan"
(cd "$top/build-tsan" && "$top/configure" --enable-werror --enable-tsan -q &&
	make $JOBS && CK_FORK=no make $JOBS check \
		TESTS="tests/check_mgr tests/check_ws tests/check_mqtt tests/check_link tests/check_metrics tests/check_ws_resume tests/check_reload tests/check_coord") ||
	{ cat "$top/build-tsan/test-suite.log"; exit 1; }
stage "TSan build and threaded suites"

# libFuzzer (clang, ASan + UBSan, leak detection on) on the config loader
# for 60 s, out of tree: a crash, leak, hang or a broken dump round trip
# fails CI. Prints a few lines: total runs, executions per second.
rm -rf "$top/build-libfuzzer"
FUZZ_BUILD="$top/build-libfuzzer" sh scripts/fuzz.sh 60
stage "libFuzzer build and run"

# The -Werror build in the tree, as README says.
./configure --enable-werror
make $JOBS
make $JOBS check || { cat test-suite.log; exit 1; }
stage "-Werror build and make check"
# The API reference: every man page lints clean (groff -ww, mandoc -T
# lint), man/man3 is what man/gen-man3.py writes from the headers today,
# and every exported function has a page. Then the ABI of the library
# just built against the committed baseline (abi/, abigail-tools).
make check-man
sh scripts/abi-check.sh
stage "man pages and ABI check"
# The benchmarks build with -Werror, and a storm smoke run (50
# connections, 3 s outage, tether and Paho; about 20 s) works end to end,
# with its --csv.
make $JOBS bench
bench/storm --quick --clients tether,paho --csv "$top/_storm.csv"
# its CSV: the header, then 100 ms rows of both clients
head -n 1 "$top/_storm.csv" | grep -qx 'client,clients,outage_s,t_s,server_up,attempts'
for k in tether paho; do
	grep -q "^$k,50,3,0.0,0," "$top/_storm.csv" && grep -q "^$k,50,3,[0-9.]*,1," "$top/_storm.csv"
done
rm -f "$top/_storm.csv"
stage "benchmarks build and storm smoke"
# The docs' pictures redraw (gnuplot-nox); tether simulate is deterministic
# (seed 1), so in a git checkout the SVGs come out as committed.
make pictures
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git diff --exit-code --stat -- docs/pictures
fi
stage "make pictures"
# distcheck builds the tarball, and checks it with the suites that need
# no long real-time runs (DISTCHECK_TESTS, tests/local.mk: the unit
# suites, the CLI checks, the test transport and the interop suite, which
# also proves the tarball carries its peer scripts): every suite already
# ran twice above, under the sanitizers and here.
make $JOBS distcheck TESTS='$(DISTCHECK_TESTS)'
stage distcheck

# The Debian packages, built once from the tarball distcheck just checked,
# in a temporary directory: lintian clean, installed, used from a fresh
# shell, purged without a trace (scripts/deb-check.sh).
sh scripts/deb-check.sh "tether-$(sed -n 's/^VERSION = //p' Makefile).tar.gz"
stage "Debian packages"

# Installed into a prefix, pkg-config gives what a program needs to link.
inst="$top/_inst"
rm -rf "$inst"
make install DESTDIR="$inst" >/dev/null
prefix=$(sed -n 's/^prefix=//p' tether.pc)
pcdir="$inst$prefix/lib/pkgconfig"
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --define-variable=prefix="$inst$prefix" \
	--cflags --libs tether)
cc -Wall -Wextra -Werror examples/storm.c $flags -o "$inst/storm"
LD_LIBRARY_PATH="$inst$prefix/lib" "$inst/storm" | tee "$inst/storm.out"
grep -q "max attempts in any 1 s" "$inst/storm.out"
LD_LIBRARY_PATH="$inst$prefix/lib" "$inst$prefix/bin/tether" version
echo "install check: a program built with pkg-config links and runs"
# Every docs/*.md is installed, under share/doc/tether/docs.
for f in docs/*.md; do
	[ -f "$inst$prefix/share/doc/tether/$f" ] ||
		{ echo "install check: $f is not installed"; exit 1; }
done
[ -f "$inst$prefix/share/man/man3/tether_conn_send.3" ] ||
	{ echo "install check: no man3 pages"; exit 1; }
rm -rf "$inst"

# The Python package, installed into a prefix, imports in a clean shell
# with only PYTHONPATH set and loads the library of that prefix by itself.
python=$(sed -n 's/^PYTHON = //p' Makefile)
if [ -n "$python" ]; then
	pyinst="$top/_pyinst"
	rm -rf "$pyinst"
	make install prefix="$pyinst" >/dev/null 2>&1
	pkg=$(find "$pyinst" -path '*/tether/__init__.py' | head -n 1)
	[ -n "$pkg" ] || { echo "install check: no Python package installed"; exit 1; }
	(cd / && env -i PATH=/usr/bin:/bin PYTHONPATH="$(dirname "$(dirname "$pkg")")" \
		"$python" -c 'import tether; print(tether.version(), tether.library_path())') |
		tee "$top/_pyinst.out"
	grep -q "^0\.[0-9.]* $pyinst/lib/libtether.so" "$top/_pyinst.out"
	echo "install check: import tether finds the installed library"
	rm -rf "$pyinst" "$top/_pyinst.out"
fi

# The classic install of README: `make install` into the default prefix
# as root, then a fresh shell runs `tether version` (make install ran
# ldconfig), reads `man 3 tether_conn_send` and imports the Python
# package; `make uninstall` leaves /usr/local as it was (the empty
# standard directories make install created are removed here).
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
prefix=$(sed -n 's/^prefix = //p' Makefile)
[ "$prefix" = /usr/local ] || { echo "live install check: prefix is $prefix, not /usr/local"; exit 1; }
if ls /usr/local/bin/tether /usr/local/lib/libtether.* >/dev/null 2>&1; then
	echo "live install check: tether is installed in /usr/local already: make uninstall it first"
	exit 1
fi
find /usr/local | sort >"$top/_live.before"
$SUDO make install >/dev/null
fresh() { (cd / && env -i PATH=/usr/local/bin:/usr/bin:/bin sh -c "$1"); }
fresh 'tether version' | tee "$top/_live.out"
grep -qx "tether $(sed -n 's/^VERSION = //p' Makefile)" "$top/_live.out"
[ "$(fresh 'command -v tether')" = /usr/local/bin/tether ]
fresh 'MANWIDTH=80 man 3 tether_conn_send 2>/dev/null' | grep -q 'int tether_conn_send('
if [ -n "$python" ]; then
	fresh "$python -c 'import tether; print(tether.library_path())'" |
		grep -qx /usr/local/lib/libtether.so.0
fi
$SUDO make uninstall >/dev/null
if ldconfig -p | grep -q libtether; then
	echo "live install check: the linker cache still names libtether after make uninstall"
	exit 1
fi
find /usr/local | sort >"$top/_live.after"
new=$(comm -13 "$top/_live.before" "$top/_live.after")
for f in $new; do
	[ -d "$f" ] || { echo "live install check: make uninstall left $f"; exit 1; }
done
for d in $(echo "$new" | sort -r); do
	$SUDO rmdir "$d" || { echo "live install check: make uninstall left files in $d"; exit 1; }
done
rm -f "$top/_live.before" "$top/_live.after" "$top/_live.out"
echo "install check: make install into /usr/local works from a fresh shell, make uninstall leaves nothing"

# And under valgrind (no sanitizers there), from the -Werror build.
make valgrind
stage "install checks and valgrind"

# Count the Check tests of the main run for the summary line.
passed=0 failed=0
for log in tests/check_*.log; do
	line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
	n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
	f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2/')
	passed=$((passed + n - $(echo $f | awk '{print $1 + $2}')))
	failed=$((failed + $(echo $f | awk '{print $1 + $2}')))
done
# And the Python binding's pytest run of the same make check.
pylog=bindings/python/run-pytest.sh.log
if [ -f "$pylog" ]; then
	line=$(grep -E '^=+ .*(passed|failed).* in [0-9.]+s' "$pylog" | tail -n 1)
	n=$(echo "$line" | sed -nE 's/.* ([0-9]+) passed.*/\1/p')
	f=$(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p')
	passed=$((passed + ${n:-0}))
	failed=$((failed + ${f:-0}))
fi
echo "all stages passed (ASan/UBSan, TSan, werror build, make check with pytest, man pages, ABI, distcheck, Debian packages, install, Python install, live install, valgrind)"
echo "$passed passed, $failed failed"
