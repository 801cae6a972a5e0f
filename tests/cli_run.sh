#!/bin/bash
# tether run end to end (issue 4): a real mosquitto and the WebSocket test
# server on loopback, a YAML with one connection to each, JSON lines from
# the file's log: section, /metrics from its metrics: section, then SIGHUP
# with an edited file (one connection changed live, one restarted, one
# added), SIGHUP with a broken file (nothing changes), SIGTERM.
set -u
TETHER="${top_builddir:-.}/tools/tether"
WSSERVER="${top_builddir:-.}/tests/harness/wsserver"
tmp=$(mktemp -d) || exit 99
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	exec 4>&- 2>/dev/null
	[ -n "${KEEP:-}" ] && cp -r "$tmp" /tmp/clirun.keep; rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$MOSQUITTO" ] || { echo "mosquitto not installed"; exit 77; }

# wait_for FILE REGEX [TENTHS]: until a line of FILE matches
wait_for() {
	for _ in $(seq "${3:-100}"); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# the WebSocket server: its port comes on stdout; stdin held open by fd 4
mkfifo "$tmp/ws.in"
"$WSSERVER" <"$tmp/ws.in" >"$tmp/ws.out" 2>&1 &
pids+=($!)
exec 4>"$tmp/ws.in"
wait_for "$tmp/ws.out" '^listening on' || { bad "wsserver did not start"; exit 1; }
wport=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/ws.out")

# mosquitto on a free port (retry a few ports if one is taken)
for try in 1 2 3 4 5; do
	mport=$(( 20000 + ($$ * 7 + try * 131) % 20000 ))
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' \
		"$mport" >"$tmp/mosq.conf"
	"$MOSQUITTO" -c "$tmp/mosq.conf" >"$tmp/mosq.log" 2>&1 &
	mpid=$!
	sleep 0.5
	kill -0 "$mpid" 2>/dev/null && break
	mpid=
done
[ -n "$mpid" ] || { bad "mosquitto did not start"; cat "$tmp/mosq.log"; exit 1; }
pids+=("$mpid")

write_cfg() { # $1: events' retry interval, $2: telemetry client_id, $3: extra
	cat >"$tmp/gw.yaml" <<YAML
version: 1
log: { format: json, level: info }
metrics: { listen: "127.0.0.1:0" }
connections:
  - name: telemetry
    transport: mqtt
    endpoints: [ "tcp://127.0.0.1:$mport" ]
    mqtt: { client_id: $2, keepalive: 5s }
    policy: { type: fixed, interval: 200ms }
  - name: events
    transport: ws
    endpoints: [ "ws://127.0.0.1:$wport/" ]
    ws: { subprotocol: tether-test }
    policy: { type: fixed, interval: $1 }
$3
YAML
}
extra='  - name: extra
    transport: ws
    endpoints: [ "ws://127.0.0.1:'$wport'/" ]
    ws: { subprotocol: tether-test }'

write_cfg 5s gw-a ""
"$TETHER" run "$tmp/gw.yaml" >"$tmp/out" 2>"$tmp/err" &
rpid=$!
pids+=("$rpid")
wait_for "$tmp/out" '"conn":"telemetry","event":"up"' 150 &&
wait_for "$tmp/out" '"conn":"events","event":"up"' 50 &&
	ok "both connections up (JSON lines from log: format json)" ||
	{ bad "not up"; cat "$tmp/out" "$tmp/err"; exit 1; }
# every stdout line is one JSON object
bad_lines=$(grep -cvE '^\{.*\}$' "$tmp/out")
[ "$bad_lines" -eq 0 ] && ok "every line is a JSON object" || bad "$bad_lines non-JSON lines"

# /metrics, from the file's metrics: section (port 0: printed on stderr)
hport=$(sed -n 's|^tether: metrics on http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$tmp/err")
if [ -n "$hport" ] && exec 3<>"/dev/tcp/127.0.0.1/$hport"; then
	printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
	timeout 5 cat <&3 | tr -d '\r' >"$tmp/metrics"
	exec 3<&-
	sed '1,/^$/d' "$tmp/metrics" >"$tmp/body"
	# every line: a comment (# HELP / # TYPE) or name{labels} value
	badm=$(grep -cvE '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[^}]*\})? [-+0-9.eE]+|[a-z_]+(\{[^}]*\})? \+Inf)$' "$tmp/body")
	grep -q '^tether_connection_state{conn="events",transport="ws",state="online"} 1$' "$tmp/body" &&
	grep -q '^tether_connection_state{conn="telemetry",transport="mqtt",state="online"} 1$' "$tmp/body" &&
	[ "$badm" -eq 0 ] && ok "/metrics parses, both online" ||
		{ bad "/metrics ($badm bad lines)"; head -20 "$tmp/body"; }
else
	bad "no metrics port from the file's metrics: section"; cat "$tmp/err"
fi

# SIGHUP with an edited file: events' policy (live), telemetry's client_id
# (its link: restart), one more connection (added)
before=$(wc -l <"$tmp/out")
write_cfg 300ms gw-b "$extra"
kill -HUP "$rpid"
wait_for "$tmp/out" '"event":"reload","file":.*"ok":true' 50 && ok "reload applied" ||
	{ bad "reload line"; tail -5 "$tmp/out"; cat "$tmp/err"; }
wait_for "$tmp/out" '"conn":"extra","event":"up"' 50 && ok "added connection up" || bad "extra not up"
wait_for "$tmp/out" '"conn":"telemetry","event":"reload".*"detail":"restart"' 50 &&
	ok "telemetry restarted (client_id changed)" || bad "telemetry not restarted"
tail -n +"$((before + 1))" "$tmp/out" >"$tmp/after"
for _ in $(seq 100); do
	[ "$(grep -c '"conn":"telemetry","event":"up"' "$tmp/out")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c '"conn":"telemetry","event":"up"' "$tmp/out")" -ge 2 ] &&
	ok "telemetry up again" || bad "telemetry not up again"
tail -n +"$((before + 1))" "$tmp/out" >"$tmp/after"
grep -q '"conn":"events","event":"reload".*"detail":"live"' "$tmp/after" &&
	! grep -q '"conn":"events","event":"state"' "$tmp/after" &&
	ok "events changed live, never left online" ||
	{ bad "events not live"; grep '"events"' "$tmp/after"; }
grep -q '"conn":"extra","event":"reload".*"detail":"added"' "$tmp/after" &&
	ok "extra announced as added" || bad "extra not announced"
# the new policy rules events: a server close is retried after 300 ms
echo "close 1001" >&4
wait_for "$tmp/out" '"conn":"events","event":"retry".*"delay_ms":300' 50 &&
	ok "events retries on the new policy (300 ms)" || { bad "events retry"; grep '"events"' "$tmp/out" | tail -5; }

# SIGHUP with a broken file: refused with file:line:column, nothing changes
before=$(wc -l <"$tmp/out")
sed -i 's/interval: 300ms/intervall: 1s/' "$tmp/gw.yaml"
kill -HUP "$rpid"
wait_for "$tmp/out" '"event":"reload","file":.*"ok":false' 50 &&
	grep -q 'gw.yaml:[0-9]*:[0-9]*: .*intervall' "$tmp/out" &&
	grep -q 'reload of .* refused, nothing changed' "$tmp/err" &&
	ok "bad file refused with its position" || { bad "bad reload"; tail -3 "$tmp/out"; cat "$tmp/err"; }
sleep 0.5
tail -n +"$((before + 1))" "$tmp/out" | grep -v '"ok":false' | grep -q '"event":"reload"' &&
	bad "a bad file changed something" || ok "nothing changed"

# SIGTERM: graceful, exit 0, everything closed
kill -TERM "$rpid"
wait "$rpid"; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "exit $rc"
for c in telemetry events extra; do
	grep -q "\"conn\":\"$c\",\"event\":\"closed\"" "$tmp/out" || bad "$c not closed"
done
echo quit >&4
exit $fail
