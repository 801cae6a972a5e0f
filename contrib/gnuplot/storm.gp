# bench/storm --csv as SVG: the attempts per 100 ms the server saw, from
# the cut until all clients were back, one line per client kind, for one
# (clients, outage) cell of the run.
#
#   gnuplot -e "in='storm.csv'; out='storm.svg'; kinds='tether paho mosq'; \
#               outage=10; title='2000 MQTT clients'" contrib/gnuplot/storm.gp
#
# in, out, kinds: required; outage (seconds; default: every row), title:
# optional. Columns: client,clients,outage_s,t_s,server_up,attempts.
if (!exists("in") || !exists("out") || !exists("kinds")) {
	print "storm.gp: set in='FILE.csv', out='FILE.svg' and kinds='a b' with -e"
	exit status 2
}
if (!exists("title")) title = ""
if (!exists("outage")) outage = -1

set terminal svg size 900,460 dynamic font "sans,12" background "white"
set output out
set datafile separator ","
set key outside bottom center horizontal
set title title
set xlabel "seconds after the cut"
set ylabel "attempts per 100 ms (log)"
set logscale y
set yrange [0.8:*]
set grid ytics lc rgb "#dddddd"
if (outage >= 0) {
	set object 1 rect from 0, graph 0 to outage, graph 1 behind fc rgb "#f4e4e4" fs solid 1.0 noborder
	set label 1 "server down" at outage / 2.0, graph 0.95 center textcolor rgb "#a05050"
}
# a row counts when its kind matches and (with outage set) its outage too;
# empty 100 ms rows are drawn at the axis (log scale: 0 cannot be shown)
sel(k) = (strcol(1) eq k && (outage < 0 || column(3) == outage)) ? \
	(column(6) > 0 ? column(6) : 0.8) : NaN
plot for [k in kinds] in using 4:(sel(k)) with steps lw 1.5 title k
