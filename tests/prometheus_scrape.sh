#!/bin/bash
# Prometheus itself scrapes `tether run --metrics`: Debian's prometheus on
# loopback (a free port, a temporary storage directory, a 1 s scrape
# interval) with a scrape config for a tether run that has one connection
# online (the WebSocket test server) and one retrying against a port where
# nothing listens. The test asks Prometheus's HTTP API (/api/v1/query)
# until tether's series are there (bounded), then checks series, labels
# and values as Prometheus stored them. `promtool check metrics` checks
# the exposition too. Skips (77) only when prometheus is not installed.
set -u
TETHER="${top_builddir:-.}/tools/tether"
WSSERVER="${top_builddir:-.}/tests/harness/wsserver"
PY=/usr/bin/python3
PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
[ -x "$PROMETHEUS" ] && [ -x "$PROMTOOL" ] \
	|| { echo "prometheus not installed (scripts/deps.sh installs it)"; exit 77; }
tmp=$(mktemp -d) || exit 99
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	exec 4>&- 2>/dev/null
	[ -n "${KEEP:-}" ] && cp -r "$tmp" /tmp/promscrape.keep; rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }

# wait_for FILE REGEX [TENTHS]: until a line of FILE matches
wait_for() {
	for _ in $(seq "${3:-100}"); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# GET path from 127.0.0.1:port; the body only (HTTP/1.0: the server closes)
http_body() {
	local port=$1 path=$2
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
	timeout 5 cat <&3 | tr -d '\r' | sed '1,/^$/d'
	exec 3<&-
}

# query EXPR: the instant vector as lines "labels value", sorted
query() {
	local q
	q=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")
	http_body "$pport" "/api/v1/query?query=$q" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "success", d
for r in d["data"]["result"]:
    m = r["metric"]
    print(",".join("%s=%s" % (k, m[k]) for k in sorted(m)), r["value"][1])
' | sort
}

# a free loopback port from the kernel (bound, then released)
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# the WebSocket test server: its port on stdout; stdin held open by fd 4
mkfifo "$tmp/ws.in"
"$WSSERVER" <"$tmp/ws.in" >"$tmp/ws.out" 2>&1 &
pids+=($!)
exec 4>"$tmp/ws.in"
wait_for "$tmp/ws.out" '^listening on' || { bad "wsserver did not start"; exit 1; }
wport=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/ws.out")
dead=$(free_port)

cat >"$tmp/run.yaml" <<YAML
version: 1
connections:
  - name: up
    transport: ws
    endpoints: [ "ws://127.0.0.1:$wport/" ]
    queue: { max_messages: 500 }
  - name: lonely
    transport: ws
    endpoints: [ "ws://127.0.0.1:$dead/" ]
    policy: { type: fixed, interval: 100ms }
YAML
"$TETHER" run "$tmp/run.yaml" --metrics 127.0.0.1:0 >"$tmp/run.out" 2>"$tmp/run.err" &
pids+=($!)
wait_for "$tmp/run.err" '^tether: metrics on http://127\.0\.0\.1:[0-9]+/metrics$' \
	|| { bad "no metrics address printed"; cat "$tmp/run.err"; exit 1; }
tport=$(sed -n 's|^tether: metrics on http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$tmp/run.err")
ok "tether serves metrics on port $tport"

# promtool's lint of the exposition (names, suffixes, HELP and TYPE)
http_body "$tport" /metrics >"$tmp/metrics"
grep -q '^tether_connections 2$' "$tmp/metrics" || { bad "exposition"; cat "$tmp/metrics"; }
if "$PROMTOOL" check metrics <"$tmp/metrics" >"$tmp/lint" 2>&1; then
	ok "promtool check metrics"
else
	bad "promtool check metrics"; cat "$tmp/lint"
fi

# Prometheus on a free port (retried: the port may be taken in between)
cat >"$tmp/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tether
    static_configs:
      - targets: [ "127.0.0.1:$tport" ]
YAML
ppid_=
for _ in 1 2 3; do
	pport=$(free_port)
	"$PROMETHEUS" --config.file="$tmp/prometheus.yml" \
		--storage.tsdb.path="$tmp/data" \
		--web.listen-address="127.0.0.1:$pport" --log.level=warn \
		>"$tmp/prom.log" 2>&1 &
	ppid_=$!
	pids+=("$ppid_")
	ready=
	for _ in $(seq 150); do
		kill -0 "$ppid_" 2>/dev/null || break
		http_body "$pport" /-/ready 2>/dev/null | grep -q 'Ready' && { ready=1; break; }
		sleep 0.2
	done
	[ -n "$ready" ] && break
	kill -KILL "$ppid_" 2>/dev/null; wait "$ppid_" 2>/dev/null
	ppid_=
done
[ -n "$ppid_" ] || { bad "prometheus did not start"; cat "$tmp/prom.log"; exit 1; }
ok "prometheus ready on port $pport"

# tether's series, as soon as Prometheus has them (two scrapes at least:
# up == 1 and the online connection's state)
got=
for _ in $(seq 60); do
	query 'tether_connection_state{state="online"} == 1' >"$tmp/online" 2>/dev/null
	grep -q 'conn=up,' "$tmp/online" && { got=1; break; }
	sleep 0.5
done
[ -n "$got" ] && ok "prometheus has tether's series" \
	|| { bad "no tether series in prometheus"; cat "$tmp/online" "$tmp/prom.log"; exit 1; }

query 'up{job="tether"}' >"$tmp/q"
grep -qx "__name__=up,instance=127.0.0.1:$tport,job=tether 1" "$tmp/q" && ok "target up" \
	|| { bad "up"; cat "$tmp/q"; }
grep -qx "__name__=tether_connection_state,conn=up,instance=127.0.0.1:$tport,job=tether,state=online,transport=ws 1" \
	"$tmp/online" && ok "connection up online, with its labels" || { bad "online"; cat "$tmp/online"; }
grep -q 'conn=lonely' "$tmp/online" && bad "lonely online" || ok "lonely not online"
query 'tether_connections' >"$tmp/q"
grep -q ' 2$' "$tmp/q" && ok "tether_connections 2" || { bad "connections"; cat "$tmp/q"; }
query 'tether_queue_max_messages' >"$tmp/q"
grep -q 'conn=up,.* 500$' "$tmp/q" && grep -q 'conn=lonely,.* 10000$' "$tmp/q" \
	&& ok "queue bounds (500 set, 10000 default)" || { bad "queue bounds"; cat "$tmp/q"; }
query 'tether_attempts_total{result="up"}' >"$tmp/q"
grep -q 'conn=up,.* 1$' "$tmp/q" && ok "one attempt up for up" || { bad "attempts up"; cat "$tmp/q"; }
# lonely fails every 100 ms: its counter grows between scrapes
query 'tether_attempts_total{conn="lonely",result="failed"}' >"$tmp/q1"
n1=$(awk '{print $NF}' "$tmp/q1")
grown=
for _ in $(seq 20); do
	sleep 0.5
	n2=$(query 'tether_attempts_total{conn="lonely",result="failed"}' | awk '{print $NF}')
	[ -n "$n1" ] && [ -n "$n2" ] && [ "$n2" -gt "$n1" ] && [ "$n1" -ge 1 ] && { grown=1; break; }
done
[ -n "$grown" ] && ok "failed attempts counted and growing ($n1 -> $n2)" \
	|| { bad "failed attempts ($n1 -> ${n2:-})"; cat "$tmp/q1"; }
query 'tether_disconnects_total{conn="lonely",class="transient"} > 0' >"$tmp/q"
grep -q 'class=transient' "$tmp/q" && ok "disconnects by class" || { bad "disconnects"; cat "$tmp/q"; }
query 'count(tether_reconnect_seconds_bucket{conn="up"})' >"$tmp/q"
grep -qx ' 10' "$tmp/q" && ok "histogram: 10 buckets" || { bad "histogram"; cat "$tmp/q"; }

exit $fail
