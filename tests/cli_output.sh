#!/bin/sh
# tether run against a hostile WebSocket peer (tests/ws_raw_peer.py): a
# text message that is not UTF-8 is closed with 1007 and reported as such;
# close reasons holding a newline, ANSI escapes or bytes that are not UTF-8
# give one well-formed text line each, and valid JSON with --json.
set -u
TETHER="${top_builddir:-.}/tools/tether"
SRC="${top_srcdir:-.}"
PY=${PYTHON3:-python3}
tmp=$(mktemp -d) || exit 99
pid=
ppid_=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -n "$ppid_" ] && kill -KILL "$ppid_" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }
command -v "$PY" >/dev/null 2>&1 || { echo "python3 not installed: skipping"; exit 77; }

# run MODE OUT: the peer's script against tether run (MODE "" or --json);
# tether's output in OUT, the peer's in OUT.peer
run() {
	mode=$1 out=$2
	"$PY" "$SRC/tests/ws_raw_peer.py" >"$out.peer" 2>&1 &
	ppid_=$!
	port=
	for _ in $(seq 100); do
		port=$(head -1 "$out.peer" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || { bad "peer did not start"; cat "$out.peer"; return 1; }
	cat >"$tmp/peer.yaml" <<YAML
version: 1
connections:
  - name: hostile
    transport: ws
    endpoints: [ "ws://127.0.0.1:$port/" ]
    policy: { type: fixed, interval: 100ms }
    classify: { "peer:ws:4000": transient, "ws:1007": transient }
YAML
	"$TETHER" run "$tmp/peer.yaml" $mode >"$out" 2>"$out.err" &
	pid=$!
	# four links, each ended by the peer's script (bounded: 15 s)
	for _ in $(seq 150); do
		[ "$(grep -c 'client closed' "$out.peer")" -ge 4 ] && break
		sleep 0.1
	done
	sleep 0.3
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	pid=
	wait "$ppid_"
	ppid_=
}

run "" "$tmp/text"
# tether closed the link of the bad text message with 1007, the others
# with the close it echoes
grep -qx 'client closed 1007' "$tmp/text.peer" && ok "1007 sent to the peer" \
	|| { bad "no 1007 close"; cat "$tmp/text.peer"; }
grep -q 'down .*ws close 1007: a text message that is not UTF-8' "$tmp/text" \
	&& ok "reported as ws close 1007 (ours)" || { bad "1007 not reported"; cat "$tmp/text"; }
# every line is one event: a timestamp, the name, the event
bad_lines=$(grep -cv '^ *[0-9][0-9]*\.[0-9][0-9][0-9] hostile  *[a-z]' "$tmp/text")
[ "$bad_lines" -eq 0 ] && ok "one line per event" || { bad "$bad_lines forged lines"; cat "$tmp/text"; }
[ "$(grep -c 'ws close 4000 (peer)' "$tmp/text")" -ge 3 ] && ok "the three close reasons shown" \
	|| { bad "close reasons missing"; cat "$tmp/text"; }
grep -q "$(printf '\033')" "$tmp/text" && bad "an escape character reached the output" || ok "no escape character"
"$PY" -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$tmp/text" \
	&& ok "text output is UTF-8" || bad "text output is not UTF-8"
grep -qF 'red?[0m \x9b2J' "$tmp/text" && ok "a lone C1 byte escaped" || { bad "C1 byte"; cat "$tmp/text"; }
grep -qF 'bad \xff\xfe utf8 \xc3' "$tmp/text" && ok "bytes that are not UTF-8 escaped" || { bad "invalid UTF-8"; cat "$tmp/text"; }

run --json "$tmp/json"
"$PY" - "$tmp/json" <<'PY' && ok "every JSON line is valid JSON" || bad "invalid JSON"
import json, sys
raw = open(sys.argv[1], "rb").read()
text = raw.decode("utf-8")           # strict: JSON text is UTF-8
reasons = []
for line in text.splitlines():
    ev = json.loads(line)
    if ev.get("event") == "down":
        reasons.append(ev["reason"])
want = ["ws close 1007: a text message that is not UTF-8",
        "line one?forged 12.000 x UP",
        "?[31mred?[0m \ufffd2J",
        "bad \ufffd\ufffd utf8 \ufffd"]
for w in want:
    if not any(w in r for r in reasons):
        print("missing %r in %r" % (w, reasons))
        sys.exit(1)
PY
exit $fail
