#!/bin/sh
# The core's layers (core/local.mk): base, sansio, store, runtime, config,
# each a folder, each using only the layers listed before it. Every quoted
# include of a core header must name a header of the file's own layer or
# of a layer before it; a header that is in no layer is an error too
# (but for base/builtins.c, which registers the built-in plug-ins).
set -u
SRC="${top_srcdir:-.}"
cd "$SRC/core" || exit 99
LAYERS="base sansio store runtime config"
fail=0

rank() { # the position of layer $1 in LAYERS
	i=0
	for l in $LAYERS; do
		[ "$l" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo 99
}

for dir in $LAYERS; do
	mine=$(rank "$dir")
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		for h in $(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$f"); do
			[ "$h" = config.h ] && continue # autoconf's
			# the one place that names the built-in plug-ins
			case "$f:$h" in
			base/builtins.c:policies/builtin.h) continue ;;
			base/builtins.c:transports/builtin.h) continue ;;
			esac
			owner=""
			for l in $LAYERS; do
				[ -e "$l/$h" ] && owner=$l
			done
			if [ -z "$owner" ]; then
				echo "not ok - $f includes \"$h\", which is in no layer"
				fail=1
			elif [ "$(rank "$owner")" -gt "$mine" ]; then
				echo "not ok - $f ($dir) includes $owner/$h: a later layer"
				fail=1
			fi
		done
	done
	echo "ok - core/$dir uses only itself and the layers before it"
done
# nothing is left outside the layers
loose=$(ls *.c *.h 2>/dev/null)
if [ -n "$loose" ]; then
	echo "not ok - in core/ but in no layer: $loose"
	fail=1
fi
exit $fail
