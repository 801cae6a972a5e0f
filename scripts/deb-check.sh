#!/bin/sh
# The Debian packages, from a release tarball: build them once in a
# temporary directory (so the state of the source tree does not matter),
# lintian with no error and no warning, install them, run `tether version`,
# a program built with pkg-config, `man 3 tether_conn_send` and
# `import tether` in a fresh shell, then purge them and check that nothing
# of them is left. The packages' test suites do not run here
# (DEB_BUILD_OPTIONS=nocheck): scripts/test.sh runs every suite elsewhere.
# Needs root (or sudo) for apt-get; installs nothing for good.
#
# Usage: scripts/deb-check.sh tether-VERSION.tar.gz   (from make dist)
set -eu
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 tether-VERSION.tar.gz" >&2; exit 2; }
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
t0=$(date +%s)
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
PKGS="libtether0 libtether-dev tether-tools python3-tether"
for p in $PKGS; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
		echo "deb-check: $p is installed already: purge it first" >&2
		exit 1
	fi
done

work=$(mktemp -d)
installed=no
cleanup() {
	if [ "$installed" = yes ]; then
		$SUDO apt-get purge -y -qq $PKGS >/dev/null 2>&1 || :
	fi
	rm -rf "$work"
}
trap cleanup EXIT
tar -C "$work" -xzf "$tarball"
src=$(echo "$work"/tether-*)
[ -d "$src/debian" ] || { echo "deb-check: no debian/ in $tarball" >&2; exit 1; }

# Build: one configure and one compile, as a package build does.
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" nice -n 10 \
	dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) ||
	{ tail -n 60 "$work/build.log"; echo "deb-check: dpkg-buildpackage failed" >&2; exit 1; }
t_build=$(date +%s)
grep -E "^dpkg-gensymbols: warning" -A20 "$work/build.log" || :
ls "$work"/*.deb
changes=$(echo "$work"/tether_*.changes)

# lintian: errors and warnings fail; the other tags are shown.
lintian --display-info --fail-on error,warning "$changes" >"$work/lintian.out" 2>&1 ||
	{ cat "$work/lintian.out"; echo "deb-check: lintian failed" >&2; exit 1; }
cat "$work/lintian.out"
echo "deb-check: lintian: $(grep -c '^E: ' "$work/lintian.out" || :) errors, $(grep -c '^W: ' "$work/lintian.out" || :) warnings, $(grep -c '^I: ' "$work/lintian.out" || :) info tags"
t_lint=$(date +%s)

# Install, and use each package from a fresh shell.
debs=""
for p in $PKGS; do debs="$debs $(echo "$work"/${p}_*.deb)"; done
installed=yes
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $debs >"$work/apt.log" 2>&1 ||
	{ cat "$work/apt.log"; exit 1; }
fresh() { (cd / && env -i PATH=/usr/bin:/bin sh -c "$1"); }
ver=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version | sed 's/-[^-]*$//')
[ "$(fresh 'command -v tether')" = /usr/bin/tether ] || { echo "deb-check: tether is not /usr/bin/tether" >&2; exit 1; }
out=$(fresh 'tether version')
echo "$out"
[ "$out" = "tether $ver" ] || { echo "deb-check: tether version says '$out', not 'tether $ver'" >&2; exit 1; }
pyout=$(fresh 'python3 -c "import tether; print(tether.version(), tether.library_path())"')
echo "$pyout"
[ "$pyout" = "$ver libtether.so.0" ] || { echo "deb-check: import tether gives '$pyout'" >&2; exit 1; }
printf '#include <tether/tether.h>\n#include <stdio.h>\nint main(void) { puts(tether_version()); return 0; }\n' >"$work/v.c"
fresh "cc $work/v.c \$(pkg-config --cflags --libs tether) -o $work/v && $work/v" | grep -qx "$ver" ||
	{ echo "deb-check: a program built with pkg-config does not run" >&2; exit 1; }
fresh 'man -w 3 tether_conn_send' | grep -q '^/usr/share/man/man3/' &&
	fresh 'MANWIDTH=80 man 3 tether_conn_send 2>/dev/null' | grep -q 'int tether_conn_send(' ||
	{ echo "deb-check: man 3 tether_conn_send does not show the function" >&2; exit 1; }
[ -f /usr/share/doc/tether/docs/architecture.md ] ||
	{ echo "deb-check: the documentation is not in /usr/share/doc/tether" >&2; exit 1; }
echo "deb-check: installed: tether version, pkg-config, man 3 tether_conn_send and import tether work"

# Purge: no package left in any state, none of their files left.
files=$(dpkg -L $PKGS | sort -u)
$SUDO apt-get purge -y -qq $PKGS >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; exit 1; }
installed=no
left=$(dpkg -l $PKGS 2>/dev/null | awk '/^[a-z][a-z] / {print $1, $2}' | grep -v '^un ' || :)
[ -z "$left" ] || { echo "deb-check: after purge: $left" >&2; exit 1; }
stray=""
for f in $files; do
	if [ -e "$f" ] && [ ! -d "$f" ]; then stray="$stray $f"; fi
done
for d in /usr/include/tether /usr/share/doc/tether /usr/lib/python3/dist-packages/tether; do
	[ -e "$d" ] && stray="$stray $d"
done
[ -z "$stray" ] || { echo "deb-check: left after purge:$stray" >&2; exit 1; }
t_end=$(date +%s)
echo "deb-check: purged, nothing left; took $((t_end - t0)) s (build $((t_build - t0)) s, lintian $((t_lint - t_build)) s, install/remove $((t_end - t_lint)) s)"
