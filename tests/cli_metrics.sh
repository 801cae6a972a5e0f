#!/bin/bash
# tether run --metrics: the address rules, then /metrics over HTTP while a
# connection retries against a port where nothing listens. The client is
# bash's /dev/tcp, so no curl is needed.
set -u
TETHER="${top_builddir:-.}/tools/tether"
tmp=$(mktemp -d) || exit 99
pid=
trap '[ -n "$pid" ] && kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }

# GET path from 127.0.0.1:port; the raw response (head and body) on stdout
http_get() {
	local port=$1 path=$2
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
	timeout 5 cat <&3
	exec 3<&-
}

port=$(( 20000 + ($$ + 7) % 20000 ))
cat >"$tmp/run.yaml" <<YAML
version: 1
connections:
  - name: lonely
    transport: ws
    endpoints: [ "ws://127.0.0.1:$port/" ]
    policy: { type: fixed, interval: 100ms }
YAML

# a non-loopback address is refused without --metrics-any, with exit 2
"$TETHER" run "$tmp/run.yaml" --metrics 0.0.0.0:0 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q 'not a loopback address.*--metrics-any' "$tmp/err" \
	&& ok "non-loopback refused" || { bad "non-loopback: exit $rc"; cat "$tmp/err"; }
"$TETHER" run "$tmp/run.yaml" --metrics 127.0.0.1:99999 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'expected a port number' "$tmp/err" \
	&& ok "bad port refused" || bad "bad port accepted"
"$TETHER" run --help | grep -q -- '--metrics-any' && ok "run --help" || bad "run --help"

# port 0: a free port, which tether prints
"$TETHER" run "$tmp/run.yaml" --metrics 127.0.0.1:0 >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
mport=
for _ in $(seq 50); do
	mport=$(sed -n 's|^tether: metrics on http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$tmp/run.err")
	[ -n "$mport" ] && break
	sleep 0.1
done
if [ -z "$mport" ]; then
	bad "no metrics address printed"; cat "$tmp/run.err"
	exit 1
fi
ok "serving on port $mport"
sleep 1
http_get "$mport" /metrics >"$tmp/m1" || bad "connect to metrics"
tr -d '\r' <"$tmp/m1" >"$tmp/m"
head -1 "$tmp/m" | grep -q '^HTTP/1.0 200 OK$' && ok "200" || { bad "status"; head -3 "$tmp/m"; }
grep -qi '^Content-Type: text/plain; version=0.0.4$' "$tmp/m" && ok "content type" || bad "content type"
# the body: after the blank line
sed '1,/^$/d' "$tmp/m" >"$tmp/body"
failed=$(sed -n 's/^tether_attempts_total{conn="lonely",transport="ws",result="failed"} \([0-9]*\)$/\1/p' "$tmp/body")
[ -n "$failed" ] && [ "$failed" -ge 2 ] && ok "failed attempts counted ($failed)" \
	|| { bad "attempts counter"; cat "$tmp/body"; }
grep -q '^tether_connections 1$' "$tmp/body" && ok "connections gauge" || bad "connections gauge"
# every line: a comment or `name{labels} value`, every name typed before use
awk '
/^# TYPE / { typed[$3] = 1; next }
/^# HELP / { next }
{
	if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? [-+0-9.eE]+(Inf|NaN)?$/) { print "bad line: " $0; bad = 1 }
	name = $0; sub(/[{ ].*/, "", name); base = name; sub(/_(bucket|sum|count)$/, "", base)
	if (!(name in typed) && !(base in typed)) { print "untyped: " name; bad = 1 }
}
END { exit bad }' "$tmp/body" && ok "valid exposition text" || bad "invalid exposition text"
http_get "$mport" /nope | tr -d '\r' | head -1 | grep -q '^HTTP/1.0 404' && ok "404 elsewhere" || bad "no 404"
# an oversized request is cut short, and the server still serves
{ exec 3<>"/dev/tcp/127.0.0.1/$mport" && head -c 10000 /dev/zero | tr '\0' a >&3 2>/dev/null; timeout 5 cat <&3; exec 3<&-; } \
	| tr -d '\r' | head -1 | grep -q '^HTTP/1.0 431' && ok "oversized request refused" || bad "oversized request"
http_get "$mport" /metrics | grep -q '^tether_connections 1' && ok "still serving" || bad "not serving after a bad request"

# No head-of-line blocking: with 20 idle sockets and a client sending one
# byte a second, scrapes are answered at once (the acceptance is 100 ms on
# a quiet machine; 1 s here, for a shared CI machine or a sanitizer build).
# The dripping client is closed at its 2 s deadline; 100 idle sockets (past
# the 64 slots: the oldest idle one gives way) do not stop a scrape either.
cat >"$tmp/probe.py" <<'PY'
import socket, sys, threading, time
port, idle_n = int(sys.argv[1]), int(sys.argv[2])
def scrape():
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    if not data.startswith(b"HTTP/1.0 200 OK") or b"tether_connections 1" not in data:
        print("bad response: %r" % data[:80]); sys.exit(1)
    return time.monotonic() - t0
idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(idle_n)]
drip = socket.create_connection(("127.0.0.1", port), timeout=10)
closed_after = []
def dripper():
    t0 = time.monotonic()
    for ch in b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n":
        try:
            drip.send(bytes([ch]))
        except OSError:
            break
        time.sleep(1)
        if time.monotonic() - t0 > 10:
            break
    drip.settimeout(5)
    try:
        while drip.recv(4096):
            pass
    except OSError:
        pass
    closed_after.append(time.monotonic() - t0)
th = threading.Thread(target=dripper)
th.start()
time.sleep(0.3)
worst = max(scrape() for _ in range(5))
print("worst scrape %.1f ms" % (worst * 1000))
th.join()
print("drip closed after %.1f s" % closed_after[0])
if worst > 1.0:
    sys.exit(2)
if idle_n <= 60 and not (1.5 <= closed_after[0] <= 6):
    sys.exit(3)
PY
if command -v python3 >/dev/null 2>&1; then
	timeout 60 python3 "$tmp/probe.py" "$mport" 20 >"$tmp/probe.out" 2>&1 \
		&& ok "20 idle + a drip: $(tr '\n' ' ' <"$tmp/probe.out")" \
		|| { bad "20 idle + a drip"; cat "$tmp/probe.out"; }
	timeout 60 python3 "$tmp/probe.py" "$mport" 100 >"$tmp/probe.out" 2>&1 \
		&& ok "100 idle + a drip: $(tr '\n' ' ' <"$tmp/probe.out")" \
		|| { bad "100 idle + a drip"; cat "$tmp/probe.out"; }
	http_get "$mport" /metrics | grep -q '^tether_connections 1' && ok "serving after the probes" || bad "not serving after the probes"
else
	bad "python3 is needed for the head-of-line probe (scripts/deps.sh)"
fi

kill -TERM $pid
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $pid 2>/dev/null; then
	bad "run did not stop on SIGTERM"
else
	wait $pid; rc=$?
	[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "run exit $rc"
fi
pid=
exit $fail
