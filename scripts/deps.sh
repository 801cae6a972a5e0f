#!/bin/sh
# Install what tether needs to build and test, from Debian 12's apt
# repositories. Idempotent: does nothing when everything is present.
# The interop suite (tests/check_interop) runs peers nobody here wrote:
# python3-websockets, mosquitto-clients (node-ws and python3-paho-mqtt are
# there for the same purpose). prometheus (with promtool) scrapes tether
# and tests the alerting rules; gnuplot-nox draws docs' pictures; mypy
# checks the Python binding's types. haproxy (a TLS front requiring ALPN,
# client certificates, a TLS version) and tinyproxy (an HTTP CONNECT
# proxy) are TLS and proxy peers for the transports' tests.
# debhelper, dh-python and lintian build and check the Debian packages
# (scripts/deb-check.sh), abigail-tools the ABI (scripts/abi-check.sh),
# mandoc and groff-base lint the man pages and man-db reads them (make
# check-man, the install checks).
set -eu
PKGS="build-essential autoconf automake libtool pkg-config \
debhelper dh-python lintian abigail-tools mandoc groff-base man-db \
libpaho-mqtt-dev libmosquitto-dev libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libyaml-dev check mosquitto valgrind iproute2 openssl libssl-dev \
clang libclang-rt-14-dev python3 python3-pytest \
node-ws python3-websockets python3-paho-mqtt mosquitto-clients coreutils \
prometheus gnuplot-nox mypy python3-setuptools python3-wheel python3-pip \
haproxy tinyproxy"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
		|| missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps.sh: need root (or sudo) to install:$missing" >&2
	exit 1
fi
echo "deps.sh: installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
