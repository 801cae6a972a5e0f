#!/bin/sh
# The pictures of docs/policies.md and docs/BENCHMARKS.md (`make pictures`,
# `make pictures-storm`): SVGs in DIR (docs/pictures).
#
#   pictures.sh DIR            each built-in policy's storm, coordinated and
#                              not, from tether simulate (virtual time, seed
#                              1: the same SVGs every time, in about 2 s);
#                              and tether against its peers from the
#                              committed DIR/storm.csv
#   pictures.sh --storm DIR    first measure DIR/storm.csv again with
#                              bench/storm (real time: about 2 minutes)
#
# TETHER and STORM name the tether and bench/storm programs (the Makefile
# passes the build tree's); gnuplot (Debian gnuplot-nox) draws.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
storm=
[ "${1:-}" = "--storm" ] && { storm=1; shift; }
[ $# -eq 1 ] || { echo "usage: pictures.sh [--storm] DIR" >&2; exit 2; }
out=$1
TETHER=${TETHER:-tether}
GNUPLOT=${GNUPLOT:-gnuplot}
command -v "$GNUPLOT" >/dev/null 2>&1 ||
	{ echo "pictures.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One storm per policy: 1000 clients, 30 s outage of refused connects, the
# manager's default limiter; coordinated recovery on, compared with off.
for p in fixed exponential adaptive breaker; do
	"$TETHER" simulate -n 1000 -d 30s --seed 1 -p "$p" --coordinated --show 0 \
		--csv "$tmp/$p-on.csv" --csv-compare "$tmp/$p-off.csv" >"$tmp/$p.txt"
	"$GNUPLOT" -e "in='$tmp/$p-on.csv'; cmp='$tmp/$p-off.csv'; out='$out/simulate-$p.svg'; \
title='$p (defaults): 1000 clients, 30 s outage, tether simulate --seed 1'; \
label='coordinated'; cmplabel='not coordinated'" "$here/simulate.gp"
	echo "pictures.sh: $out/simulate-$p.svg"
done

if [ -n "$storm" ]; then
	STORM=${STORM:-bench/storm}
	"$STORM" --clients tether,paho,mosq,tether-ws,lws -n 1000 --outage 10 \
		--csv "$tmp/storm.csv"
	mv "$tmp/storm.csv" "$out/storm.csv"
fi
if [ -f "$out/storm.csv" ]; then
	"$GNUPLOT" -e "in='$out/storm.csv'; out='$out/storm-mqtt.svg'; kinds='tether paho mosq'; \
outage=10; title='bench/storm: 1000 MQTT clients, 10 s outage (SYNs seen per 100 ms)'" "$here/storm.gp"
	"$GNUPLOT" -e "in='$out/storm.csv'; out='$out/storm-ws.svg'; kinds='tether-ws lws'; \
outage=10; title='bench/storm: 1000 WebSocket clients, 10 s outage (SYNs seen per 100 ms)'" "$here/storm.gp"
	echo "pictures.sh: $out/storm-mqtt.svg $out/storm-ws.svg"
fi
