#!/bin/sh
# tether simulate, end to end: the acceptance run of the foundation issue
# (10,000 clients, 30 s outage: full jitter's peak attempt rate at least 4x
# below jitter none's, both printed), plus clear errors for bad input.
set -u
TETHER="${top_builddir:-.}/tools/tether"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }

"$TETHER" simulate --clients 10000 --outage 30s >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && ok "simulate exits 0" || { bad "simulate exit $rc"; cat "$tmp/err"; }
grep -q '^== policy: exponential initial=1s multiplier=2 max=1m jitter=full max_attempts=0 max_elapsed=0$' "$tmp/out" \
	&& ok "prints the policy" || bad "policy line missing"
grep -q '^== comparison run (jitter=none): exponential .*jitter=none ' "$tmp/out" \
	&& ok "runs the jitter=none baseline" || bad "baseline missing"
grep -q 'attempts per 100 ms around recovery' "$tmp/out" && ok "histogram" || bad "histogram missing"
grep -q 'client 0:' "$tmp/out" && ok "delay schedule" || bad "schedule missing"
grep -q 'reconnected after the server came back: 50% .* 90% .* 100% ' "$tmp/out" \
	&& ok "time to 50/90/100%" || bad "percentiles missing"
# peak attempt rates of the two runs, in order: policy then baseline
rates=$(sed -n 's/^  peak attempt rate: \([0-9]*\)\/s.*/\1/p' "$tmp/out" | tr '\n' ' ')
set -- $rates
if [ $# -eq 2 ] && [ "$1" -gt 0 ] && [ $(($1 * 4)) -le "$2" ]; then
	ok "full jitter peak $1/s is at least 4x below jitter none $2/s"
else
	bad "peak rates '$rates' do not show a 4x reduction"
fi
grep -q 'lower$' "$tmp/out" && ok "comparison line" || bad "comparison line missing"

# YAML policy with a breaker, and the limiter
"$TETHER" simulate -n 200 -d 5s --limit 100:10:8 --no-compare \
	--policy-yaml '{type: breaker, failures: 2, open_for: 3s, inner: {type: exponential, initial: 500ms}}' \
	>"$tmp/out2" 2>&1 && ok "breaker from YAML runs" || { bad "breaker run failed"; cat "$tmp/out2"; }
grep -q '^limiter: 100 connects/s, burst 10, max connecting 8$' "$tmp/out2" && ok "limiter shown" || bad "limiter line missing"
grep -q '^== policy: breaker ' "$tmp/out2" && ok "breaker described" || bad "breaker not described"

# coordinated recovery: the targets for 2000 clients, 30 s outage
"$TETHER" simulate -n 2000 -d 30s --coordinated --show 0 >"$tmp/out3" 2>&1 \
	&& ok "coordinated run" || { bad "coordinated run failed"; cat "$tmp/out3"; }
grep -q '^limiter: 1000 connects/s, burst 1, max connecting 0$' "$tmp/out3" \
	&& ok "the manager's default limiter" || bad "default limiter not used"
grep -q '^coordinated recovery: on (one endpoint; probe interval 1s)$' "$tmp/out3" \
	&& ok "coordination shown" || bad "coordination line missing"
grep -q '^== comparison run (coordination off): ' "$tmp/out3" \
	&& ok "compared with coordination off" || bad "no coordination-off run"
line=$(grep '^  attempts per client during the outage: [0-9.]* vs ' "$tmp/out3")
set -- $(echo "$line" | sed 's/.*: \([0-9.]*\) vs \([0-9.]*\)/\1 \2/')
if [ $# -eq 2 ] && awk "BEGIN { exit !($1 <= 0.1 && $2 > 1) }"; then
	ok "attempts per client during the outage: $1 coordinated vs $2"
else
	bad "attempts per client: '$line'"
fi
line=$(grep '^  time to 100% reconnected: ' "$tmp/out3")
t=$(echo "$line" | sed -n 's/.*: \([0-9.]*\)s vs .*/\1/p')
if [ -n "$t" ] && awk "BEGIN { exit !($t <= 3) }"; then
	ok "all back ${t}s after the server"
else
	bad "time to 100%: '$line'"
fi
grep -q '^  max attempts in any 1 s: 1000 vs ' "$tmp/out3" \
	&& ok "never above the limiter's rate" || bad "peak above the rate"

# --csv / --csv-compare: the two runs' time series, well formed: the
# header, 100 ms rows in order from 0, server_up 0 then 1, back + down =
# the clients in every row, back never falling, and the attempts adding
# up to the run's total as printed
"$TETHER" simulate -n 500 -d 10s --coordinated --show 0 --csv "$tmp/c.csv" \
	--csv-compare "$tmp/u.csv" >"$tmp/out4" 2>&1 \
	&& ok "simulate --csv runs" || { bad "simulate --csv failed"; cat "$tmp/out4"; }
totals=$(sed -n 's/^  attempts per client during the outage: .* (\([0-9]*\) in all.*/\1/p' "$tmp/out4" | tr '\n' ' ')
set -- $totals
for f in c u; do
	total=$1; shift
	if awk -F, -v clients=500 -v total="$total" '
		NR == 1 { if ($0 != "t_s,server_up,attempts,back,down") { print "header: " $0; exit 1 } next }
		NF != 5 { print "fields: " $0; exit 1 }
		{
			want = (NR - 2) / 10
			if ($1 + 0 != want) { print "row " NR ": t_s " $1 ", expected " want; exit 1 }
			if ($2 < up) { print "row " NR ": server down again"; exit 1 }
			if ($4 + $5 != clients) { print "row " NR ": back + down != " clients; exit 1 }
			if ($4 < back) { print "row " NR ": back fell"; exit 1 }
			up = $2; back = $4; sum += $3; rows++
		}
		END {
			if (rows < 100 || !up || back != clients || sum != total) {
				print "rows " rows " up " up " back " back " attempts " sum " of " total; exit 1
			}
		}' "$tmp/$f.csv"; then
		ok "$f.csv well formed ($total attempts, all 500 back)"
	else
		bad "$f.csv not well formed"; head -3 "$tmp/$f.csv"
	fi
done
"$TETHER" simulate -n 10 --no-compare --csv-compare "$tmp/x.csv" >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && grep -q "no comparison run" "$tmp/e" && ok "--csv-compare needs a comparison" \
	|| { bad "--csv-compare alone: rc $rc"; cat "$tmp/e"; }

# bad input: clear errors, exit 2
"$TETHER" simulate --outage 30x >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && grep -q "expected a duration" "$tmp/e" && ok "bad duration rejected" \
	|| { bad "bad duration: rc $rc"; cat "$tmp/e"; }
"$TETHER" simulate --set intial=2s >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && grep -q "did you mean 'initial'" "$tmp/e" && ok "typo gets a suggestion" \
	|| { bad "typo: rc $rc"; cat "$tmp/e"; }
"$TETHER" simulate --policy-yaml '{type: exponential, jitter: [a]}' >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--policy-yaml:1:" "$tmp/e" && ok "YAML error has a position" \
	|| { bad "yaml error: rc $rc"; cat "$tmp/e"; }
"$TETHER" simulate --policy nosuch >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && grep -q "nosuch" "$tmp/e" && ok "unknown policy named" || { bad "unknown policy: rc $rc"; cat "$tmp/e"; }
"$TETHER" bogus >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown command 'bogus'" "$tmp/e" && ok "unknown command" || bad "unknown command: rc $rc"
"$TETHER" policies | grep -q '^breaker ' && ok "policies listed" || bad "policies list"
# each policy's options come from its table: name, type, default
"$TETHER" policies | grep -A7 '^exponential ' | grep -Eq '^    multiplier +decimal +2 ' &&
	ok "policy options listed from the table" || bad "policy options list"

exit $fail
