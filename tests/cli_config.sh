#!/bin/sh
# tether check and tether run on configuration files, end to end.
set -u
TETHER="${top_builddir:-.}/tools/tether"
SRC="${top_srcdir:-.}"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }

# the annotated example is accepted, and its dump loads to the same dump
TETHER_MQTT_PASSWORD=not-shown-anywhere "$TETHER" check "$SRC/examples/gateway.yaml" >"$tmp/d1" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && ok "check examples/gateway.yaml exits 0" || { bad "check exit $rc"; cat "$tmp/err"; }
grep -q '^      password_env: TETHER_MQTT_PASSWORD$' "$tmp/d1" && ok "dump names the variable" || bad "password_env missing"
grep -q 'not-shown-anywhere' "$tmp/d1" "$tmp/err" && bad "secret printed" || ok "secret never printed"
grep -q '^    close_timeout: 2s$' "$tmp/d1" && ok "defaults filled in" || bad "defaults missing"
TETHER_MQTT_PASSWORD=x "$TETHER" check "$tmp/d1" >"$tmp/d2" 2>&1 && cmp -s "$tmp/d1" "$tmp/d2" \
	&& ok "dump round trip" || bad "dump round trip differs"

# a bad file: every error, located, prefixed, exit 2
cat >"$tmp/bad.yaml" <<'YAML'
version: 1
limits: { burst: 0 }
connections:
  - name: a
    transport: ws
    endpoints: [ "tcp://127.0.0.1:1" ]
    polcy: fast
YAML
"$TETHER" check "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && ok "bad file exits 2" || bad "bad file exit $rc"
[ -s "$tmp/out" ] && bad "bad file printed a dump" || ok "nothing on stdout"
grep -qx "tether: $tmp/bad.yaml:2:18: limits.burst: expected a whole number between 1 and 1000000, found '0'" "$tmp/err" \
	&& ok "range error" || { bad "range error"; cat "$tmp/err"; }
grep -qx "tether: $tmp/bad.yaml:6:18: connections.0.endpoints.0: expected a URI for transport 'ws' (ws://, wss://), found 'tcp://127.0.0.1:1'" "$tmp/err" \
	&& ok "scheme error" || { bad "scheme error"; cat "$tmp/err"; }
grep -q "unknown key 'connections.0.polcy' for a connection (did you mean 'connections.0.policy'?)" "$tmp/err" \
	&& ok "did you mean" || bad "suggestion missing"
"$TETHER" check "$tmp/nope.yaml" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "cannot read" "$tmp/err" && ok "missing file" || bad "missing file"

# tether run against a port where nothing listens: attempts, retries,
# then SIGTERM stops it within a few seconds with exit 0
port=$(( 20000 + $$ % 20000 ))
cat >"$tmp/run.yaml" <<YAML
version: 1
connections:
  - name: lonely
    transport: ws
    endpoints: [ "ws://127.0.0.1:$port/" ]
    policy: { type: fixed, interval: 200ms }
YAML
"$TETHER" run "$tmp/run.yaml" >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
sleep 2
kill -HUP $pid 2>/dev/null
sleep 0.3
kill -TERM $pid 2>/dev/null
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $pid 2>/dev/null; then
	bad "run did not stop on SIGTERM"; kill -KILL $pid
else
	wait $pid; rc=$?
	[ $rc -eq 0 ] && ok "run stops on SIGTERM with exit 0" || bad "run exit $rc"
fi
grep -q '^ *[0-9.]* lonely *attempt *endpoint 0$' "$tmp/run.out" && ok "attempt lines" || { bad "no attempt line"; cat "$tmp/run.out"; }
grep -q 'lonely *down .*transient' "$tmp/run.out" && ok "down with its reason" || bad "no down line"
grep -q 'lonely *retry  *in [0-9]* ms (attempt [0-9]*)' "$tmp/run.out" && ok "retry lines" || bad "no retry line"
grep -q 'lonely *closed' "$tmp/run.out" && ok "closed at the end" || bad "no closed line"
grep -qx "reload $tmp/run.yaml: applied" "$tmp/run.out" && ok "SIGHUP reloads the unchanged file" || bad "no reload line"

# --json, and exit 1 when every connection ends on its own (gave up)
cat >"$tmp/give.yaml" <<YAML
version: 1
connections:
  - name: brief
    transport: ws
    endpoints: [ "ws://127.0.0.1:$port/" ]
    policy: { type: fixed, interval: 100ms, max_attempts: 2 }
YAML
timeout 20 "$TETHER" run "$tmp/give.yaml" --json >"$tmp/j.out" 2>"$tmp/j.err"
rc=$?
[ $rc -eq 1 ] && ok "exit 1 after giving up" || bad "give-up exit $rc"
grep -q 'every connection has ended' "$tmp/j.err" && ok "says why" || bad "no reason on stderr"
grep -q '^{"t_ms":[0-9]*,"conn":"brief","event":"give-up",' "$tmp/j.out" \
	&& ok "json give-up line" || { bad "json give-up missing"; cat "$tmp/j.out"; }
bad_json=$(grep -cv '^{.*}$' "$tmp/j.out")
[ "$bad_json" -eq 0 ] && ok "every line is one JSON object" || bad "$bad_json non-JSON lines"

# SIGTERM is honoured while a reload is still loading its file: the file
# is now a FIFO nobody writes, so the load never ends; tether stops anyway
cp "$tmp/run.yaml" "$tmp/hang.yaml"
"$TETHER" run "$tmp/hang.yaml" >"$tmp/hang.out" 2>"$tmp/hang.err" &
pid=$!
sleep 1
rm -f "$tmp/hang.yaml" && mkfifo "$tmp/hang.yaml"
kill -HUP $pid
sleep 0.5
kill -TERM $pid
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $pid 2>/dev/null; then
	bad "SIGTERM waited for the reload"; kill -KILL $pid
else
	wait $pid; rc=$?
	[ $rc -eq 0 ] && ok "SIGTERM during a reload: stopped in $((i * 100)) ms, exit 0" || bad "exit $rc after SIGTERM during a reload"
fi
grep -q "the reload of $tmp/hang.yaml under way is dropped" "$tmp/hang.err" \
	&& ok "says the reload was dropped" || { bad "no word of the dropped reload"; cat "$tmp/hang.err"; }
grep -q 'lonely *closed' "$tmp/hang.out" && ok "connections closed" || bad "not closed"

# a SIGHUP reload of a large file is applied while the loop keeps running
cp "$tmp/run.yaml" "$tmp/big.yaml"
"$TETHER" run "$tmp/big.yaml" >"$tmp/big.out" 2>"$tmp/big.err" &
pid=$!
sleep 1
{ cat "$tmp/run.yaml"; echo "    ws:"; echo "      headers:"; i=0; while [ $i -lt 2000 ]; do echo "        X-H$i: v$i"; i=$((i + 1)); done; } >"$tmp/big.new"
mv "$tmp/big.new" "$tmp/big.yaml"
kill -HUP $pid
i=0
while ! grep -q "reload $tmp/big.yaml: applied" "$tmp/big.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "reload $tmp/big.yaml: applied" "$tmp/big.out" && ok "reload of 2,000 headers applied" || { bad "big reload"; cat "$tmp/big.err"; }
kill -TERM $pid; wait $pid

exit $fail
