#!/bin/sh
# The main job on its built-in default: build tether, then run a reconnect
# storm of 10,000 clients through a 30 s outage on virtual time and show
# what the server would see, full jitter against no jitter.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
if [ ! -x tools/tether ]; then
	[ -x configure ] || autoreconf -fi >/dev/null
	[ -f Makefile ] || ./configure -q
	make -j2 >/dev/null
fi
exec ./tools/tether simulate --clients 10000 --outage 30s "$@"
