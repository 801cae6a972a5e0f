# A reconnect storm from `tether simulate --csv` as SVG: the attempts per
# 100 ms (steps, left axis) and the clients back online (line, right axis)
# of one run, and optionally of a second run to compare (--csv-compare).
#
#   gnuplot -e "in='a.csv'; cmp='b.csv'; out='storm.svg'; \
#               title='exponential'; label='coordinated'; cmplabel='alone'" \
#           contrib/gnuplot/simulate.gp
#
# in, out: required. cmp (a second CSV), title, label, cmplabel: optional.
# Columns: t_s,server_up,attempts,back,down (man tether, simulate --csv).
if (!exists("in") || !exists("out")) {
	print "simulate.gp: set in='FILE.csv' and out='FILE.svg' with -e"
	exit status 2
}
if (!exists("title")) title = ""
if (!exists("label")) label = "this run"
if (!exists("cmplabel")) cmplabel = "comparison"

set terminal svg size 900,460 dynamic font "sans,12" background "white"
set output out
set datafile separator ","
set key outside bottom center horizontal
set title title
set xlabel "seconds after the links dropped"
set ylabel "attempts per 100 ms"
set y2label "clients back online"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
# room above the tallest bar and the last client
set offsets 0, 0, graph 0.08, 0
set grid ytics lc rgb "#dddddd"

# the outage: from 0 to the first row with server_up = 1
stats in using (column(2) == 0 ? column(1) : NaN) nooutput
back_at = STATS_max + 0.1
set object 1 rect from 0, graph 0 to back_at, graph 1 behind fc rgb "#f4e4e4" fs solid 1.0 noborder
set label 1 "server down" at back_at / 2, graph 0.95 center textcolor rgb "#a05050"

if (exists("cmp")) {
	plot cmp using 1:3 with steps lw 1 lc rgb "#e08020" title cmplabel . ": attempts", \
	     in using 1:3 with steps lw 1.5 lc rgb "#2060c0" title label . ": attempts", \
	     in using 1:4 axes x1y2 with lines lw 2 lc rgb "#103070" title label . ": back", \
	     cmp using 1:4 axes x1y2 with lines lw 2 dt 2 lc rgb "#a04000" title cmplabel . ": back"
} else {
	plot in using 1:3 with steps lw 1.5 lc rgb "#2060c0" title "attempts", \
	     in using 1:4 axes x1y2 with lines lw 2 lc rgb "#103070" title "back"
}
