#!/bin/sh
# demo/tether-demo end to end: real peers on loopback, the scripted bad
# day, the report; and the installed tool has no demo command.
set -u
DEMO="${top_builddir:-.}/demo/tether-demo"
TETHER="${top_builddir:-.}/tools/tether"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }

start=$(date +%s)
"$DEMO" >"$tmp/out" 2>"$tmp/err"
rc=$?
took=$(( $(date +%s) - start ))
cat "$tmp/out" "$tmp/err"
[ $rc -eq 0 ] && ok "demo exits 0" || bad "demo exit $rc"
[ $took -lt 60 ] && ok "finished in ${took}s (< 60 s)" || bad "took ${took}s"

# the report's table: conn attempts outages sent queued delivered failed
# lost refused final-state
row() { awk -v c="$1" '$1 == c && NF == 10 && $2 ~ /^[0-9]+$/' "$tmp/out"; }
ws=$(row ws)
[ -n "$ws" ] && ok "ws row: $ws" || bad "no ws row in the table"
[ "$(echo "$ws" | awk '{print $10}')" = closed ] \
	&& ok "ws closed after the bad credentials" || bad "ws not closed"
[ "$(echo "$ws" | awk '{print $8}')" = 0 ] && ok "ws lost 0" || bad "ws lost messages"
grep -qx 'ws: attempts after the bad-credentials fault: 1' "$tmp/out" \
	&& ok "exactly one attempt after the bad credentials" \
	|| bad "attempts after the bad credentials"
grep -q 'ws .*fatal: http 401' "$tmp/out" && ok "401 is fatal" || bad "no fatal 401 in the timeline"

if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
	mq=$(row mqtt)
	[ -n "$mq" ] && ok "mqtt row: $mq" || bad "no mqtt row in the table"
	[ "$(echo "$mq" | awk '{print $10}')" = online ] \
		&& ok "mqtt back online at the end" || bad "mqtt not online"
	[ "$(echo "$mq" | awk '{print $8}')" = 0 ] && ok "mqtt lost 0" || bad "mqtt lost messages"
	# messages accepted while the link was down were queued and delivered
	echo "$mq" | awk '$5 > 0 && $6 == $4 && $7 == 0 { ok = 1 } END { exit !ok }' \
		&& ok "mqtt: queued while down, all delivered" \
		|| bad "mqtt: queued/delivered ($mq)"
else
	grep -q 'mosquitto is not installed' "$tmp/out" \
		&& ok "no mosquitto: WebSocket half only, said so" || bad "no mosquitto note"
fi
grep -q '^verdict: bad credentials: 1 attempt, then closed' "$tmp/out" \
	&& ok "verdict" || bad "verdict"

# The harness stays out of tools/tether: demo is an unknown command there.
"$TETHER" demo >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && ok "tether demo: exit 2" || bad "tether demo: exit $rc"
grep -qx "tether: unknown command 'demo'" "$tmp/err" \
	&& ok "tether demo: unknown command" || bad "tether demo: $(head -n 1 "$tmp/err")"
exit $fail
