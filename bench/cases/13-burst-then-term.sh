#!/usr/bin/env bash
# 13 a burst of 100k lines (7.5 MB, written in one go) into a followed file and into a new glob match;
# SIGTERM the shipper 0.3 s into the burst (SIG=KILL for SIGKILL), restart it at once; do it ROUNDS (3)
# times, a burst each time. Expect: every line once, in order.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/access.log"
MP=$(freeport); N=100000; R=${ROUNDS:-3}; SIG=${SIG:-TERM}
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log" "$L/*-vhost.log"
sleep 1.5
for r in $(seq "$R"); do
	genlines a $(( (r - 1) * N + 1 )) $(( r * N )) >>"$L/access.log"
	genlines v $(( (r - 1) * N + 1 )) $(( r * N )) >>"$L/r$r-vhost.log"
	sleep 0.3
	kill -"$SIG" $SPID; wait $SPID 2>/dev/null
	start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log" "$L/*-vhost.log"
	sleep 1
done
T=$((R * N))
wait_count $((2 * T)) 100; settle 4 60
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -E 'level=(WARN|ERROR)' "$W/ship.log" | grep -v 'stopped with lines not ack' | cut -c1-300 | head -5
check a $T; A="a: got=$GOT missing=$MISS dups=$DUPS order=$ORDER"; AF=$((MISS + DUPS + ORDER))
[ "$AF" -gt 0 ] && echo "a missing: $(ranges a 1 $T | cut -c1-200)"
check v $T; V="v: got=$GOT missing=$MISS dups=$DUPS"; FV=$((MISS + DUPS))
[ "$FV" -gt 0 ] && echo "v missing: $(ranges v 1 $T | cut -c1-200)"
echo "$A; $V"
[ "$AF" -eq 0 ] && [ "$FV" -eq 0 ] && result PASS "SIG$SIG x$R: $A; $V"
result FAIL "SIG$SIG x$R: $A; $V"
