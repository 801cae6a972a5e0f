#!/bin/sh
# The built-in plug-ins (policies/, transports/) and the test transport
# (tests/echo_transport.*) build against include/ alone. Their library has no core/ on its include path; this catches what
# an include path cannot: a core header named by path ("../core/x.h") or
# found through the top directory ("core/x.h").
set -u
SRC="${top_srcdir:-.}"
cd "$SRC" || exit 99
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }

# issue 11's acceptance check, headers included
PLUGINS="policies/*.c transports/*.c policies/*.h transports/*.h tests/echo_transport.c tests/echo_transport.h"
# shellcheck disable=SC2086 # the globs expand here
if found=$(grep -l -- '-int.h' $PLUGINS); then
	bad "internal (-int.h) headers named in: $(echo $found)"
else
	ok "no -int.h header in policies/, transports/ or the test transport"
fi
# quoted includes name the plug-in's own folder only (<tether/...> for the rest)
# shellcheck disable=SC2086
if found=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*/' \
	$PLUGINS); then
	bad "headers included by path: $found"
else
	ok "no header included by path"
fi
exit $fail
