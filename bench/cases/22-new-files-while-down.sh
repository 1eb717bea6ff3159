#!/usr/bin/env bash
# 22 files that appear while the shipper is down, started without --from-beginning (FROMB=1: with it):
# `ship logs/app.log logs/gone.log 'logs/*-vhost.log'`, app.log missing at the first start, gone.log and
# y-vhost.log present and followed. The shipper is stopped (SIG=TERM, or KILL); while it is down:
# app.log is created with 500 lines, x-vhost.log (a new match) with 500, y-vhost.log gets 500 more,
# gone.log is deleted and recreated with 500 lines (rotation without a rotated name). Restart, then
# 100 more lines into each. Expect: every line written after the first start arrives once.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; genlines g 1 100 >"$L/gone.log"; genlines y 1 100 >"$L/y-vhost.log"
MP=$(freeport); FB=(); [ "${FROMB:-0}" = 1 ] && FB=(--from-beginning)
ARGS=("$L/app.log" "$L/gone.log" "$L/*-vhost.log")
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP "${FB[@]}" "${ARGS[@]}"
sleep 2
genlines g 101 200 >>"$L/gone.log"; genlines y 101 200 >>"$L/y-vhost.log"
sleep 2
kill -"${SIG:-TERM}" $SPID; wait $SPID 2>/dev/null
genlines p 1 500 >"$L/app.log"; genlines x 1 500 >"$L/x-vhost.log"; genlines y 201 700 >>"$L/y-vhost.log"
rm "$L/gone.log"; genlines h 1 500 >"$L/gone.log"
sleep 0.5
start_shipper --metrics-addr 127.0.0.1:$MP "${FB[@]}" "${ARGS[@]}"
sleep 2
genlines p 501 600 >>"$L/app.log"; genlines x 501 600 >>"$L/x-vhost.log"; genlines y 701 800 >>"$L/y-vhost.log"; genlines h 501 600 >>"$L/gone.log"
settle 4 60
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -E 'level=(WARN|ERROR)|from=end|from=' "$W/ship.log" | grep -v 'not acknowledged\|presence group' | sed "s,$W,,g" | cut -c1-230 | tail -8
F=0; S=""
for t in "p 1 600" "x 1 600" "y 101 800" "h 1 600" "g 101 200"; do
	set -- $t; m=$(missing $1 $2 $3 | wc -w); d=$(out | grep -o "/$1/[0-9]*" | sort | uniq -d | wc -l)
	S="$S $1: missing=$m dups=$d;"; F=$((F + m + d)); [ "$m" -gt 0 ] && echo "$1 missing: $(ranges $1 $2 $3)"
done
[ "$F" -eq 0 ] && result PASS "SIG${SIG:-TERM} FB=${FB[*]:-no}:$S"
result FAIL "SIG${SIG:-TERM} FB=${FB[*]:-no}:$S"
