#!/usr/bin/env bash
# 17 glob 'logs/*.log' (and the path logs/a.log with PATH_ARG=1); a writer appends 3000 lines to
# logs/a.log holding its descriptor. Twice: `mv logs logs.away`, 2 s, `mv logs.away logs` (the writer
# goes on writing through its descriptor). MODE=recreate instead: `mv logs logs.old; mkdir logs`, the
# writer reopens (HUP) into a new logs/a.log, 2 s later a new match logs/b.log with 500 lines.
# Expect: every line of a (and b) once, in order; events again within seconds (latency printed).
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/a.log"
MP=$(freeport); M=${MODE:-back}
ARGS=("$L/*.log"); [ "${PATH_ARG:-0}" = 1 ] && ARGS=("$L/a.log")
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP "${ARGS[@]}"
sleep 1.5
python3 "$W/writer.py" "$L/a.log" a 3000 0.003 & WP=$!; PIDS+=("$WP")
for _ in $(seq 100); do [ -s "$L/a.log" ] && break; sleep 0.1; done
for r in 1 2; do
	sleep 1.5
	if [ "$M" = back ]; then
		mv "$L" "$W/logs.away"; sleep 2; mv "$W/logs.away" "$L"
	else
		mv "$L" "$W/logs.old$r"; mkdir "$L"; kill -HUP $WP; sleep 2
		[ "$r" = 1 ] && [ "${PATH_ARG:-0}" = 0 ] && genlines b 1 500 >"$L/b.log"
	fi
done
wait $WP
sleep 0.5; genlines c 1 1 >>"$L/a.log"; LAT=$(latency $(( $(count) + 1 )) 30)
settle 4 60
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -E 'level=(WARN|ERROR)' "$W/ship.log" | grep -v 'presence group' | cut -c1-250 | head -5
check a 3000; S="a: got=$GOT missing=$MISS dups=$DUPS order=$ORDER"; F=$((MISS + DUPS + ORDER))
[ "$MISS" -gt 0 ] && echo "a missing: $(ranges a 1 3000)"
if [ "$M" = recreate ] && [ "${PATH_ARG:-0}" = 0 ]; then check b 500; S="$S; b: missing=$MISS dups=$DUPS"; F=$((F + MISS + DUPS)); fi
S="MODE=$M PATH_ARG=${PATH_ARG:-0}: $S; last line after ${LAT}s"
[ "$F" -eq 0 ] && awk -v l="$LAT" 'BEGIN{exit !(l < 3)}' && result PASS "$S"
result FAIL "$S"
