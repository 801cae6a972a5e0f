#!/bin/sh
# contrib/prometheus's alerting rules: `promtool check rules`, then their
# unit tests (`promtool test rules`), which fire each alert on series
# shaped as tether exports them and check it stays quiet otherwise.
# Skips (77) only when promtool (Debian's prometheus) is not installed.
set -u
# No C code of ours runs here: the sanitizer builds leave it to the plain
# build's make check (CI runs both).
if [ -n "${TETHER_SANITIZERS:-}" ]; then
	echo "SKIP: checked in the build without sanitizers"
	exit 77
fi
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
[ -x "$PROMTOOL" ] || { echo "promtool not installed (scripts/deps.sh installs prometheus)"; exit 77; }
dir="${top_srcdir:-.}/contrib/prometheus"
fail=0
"$PROMTOOL" check rules "$dir/tether.rules.yml" && echo "ok - promtool check rules" \
	|| { echo "not ok - promtool check rules"; fail=1; }
# promtool reads rule_files relative to the test file's directory
(cd "$dir" && "$PROMTOOL" test rules tether.rules.test.yml) && echo "ok - promtool test rules" \
	|| { echo "not ok - promtool test rules"; fail=1; }
exit $fail
