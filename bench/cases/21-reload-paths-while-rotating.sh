#!/usr/bin/env bash
# 21 `ship --config` reloaded with SIGHUP while logrotate (create, rotate 9) rotates: paths [a.log];
# HUP 1 adds b.log (written since before; its writer held still across the signal) and logrotate runs
# 0.2 s after it; HUP 2 drops a.log,
# then a rotation while a.log is not followed; HUP 3 adds a.log back, a rotation right after it.
# Writers append 4000 lines each (reopen on HUP from logrotate). Expect: no line twice in a or b; every
# b line written after HUP 1 arrives; every a line except those written while a.log was out of the
# configuration (between HUP 2 and HUP 3) arrives; the shipper stays up.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/a.log"; : >"$L/b.log"
MP=$(freeport)
conf() { { echo "group: www"; echo "spread: $SPREAD"; echo "state_dir: $W/sstate"; echo "metrics_addr: 127.0.0.1:$MP"; echo "paths:"; for p in "$@"; do echo "  - $L/$p"; done; } >"$W/ship.yaml"; }
last() { tail -c 300 "$L/$1.log" | grep -o "/$1/[0-9]*" | tail -1 | sed 's,.*/0*,,'; }
conf a.log
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
"$BIN" ship --config "$W/ship.yaml" >>"$W/ship.log" 2>&1 & SPID=$!; PIDS+=("$SPID")
sleep 1.5
python3 "$W/writer.py" "$L/a.log" a 4000 0.003 & WA=$!; PIDS+=("$WA")
python3 "$W/writer.py" "$L/b.log" b 4000 0.003 & WB=$!; PIDS+=("$WB")
for _ in $(seq 100); do [ -s "$L/a.log" ] && [ -s "$L/b.log" ] && break; sleep 0.1; done
lrconf "$L/*.log" 9 "$WA $WB"
sleep 1.5; conf a.log b.log; kill -STOP $WB; B1=$(last b); kill -HUP $SPID; sleep 0.3; kill -CONT $WB; sleep 0.2; lrot
sleep 2; conf b.log; A2=$(last a); kill -HUP $SPID; sleep 1; lrot
sleep 2; conf a.log b.log; A3=$(last a); kill -HUP $SPID; sleep 0.2; lrot
wait $WA $WB
settle 6 90
kill -0 $SPID 2>/dev/null || echo "shipper exited: $(tail -2 "$W/ship.log")"
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -E 'level=(WARN|ERROR)' "$W/ship.log" | grep -v 'not acknowledged\|presence group' | cut -c1-250 | head -5
echo "b at HUP1: $B1; a at HUP2: $A2, at HUP3: $A3"
check a 4000; DA=$DUPS; MA=$(missing a 1 4000 | tr ' ' '\n' | awk -v x="$A2" -v y="$A3" 'NF && ($1 <= x || $1 > y + 1)' | wc -l)
echo "a: got=$GOT missing=$MISS (outside the window: $MA) dups=$DA; a missing: $(ranges a 1 4000 | cut -c1-150)"
check b 4000; DB=$DUPS; MB=$(missing b $((B1 + 1)) 4000 | wc -w)
echo "b: got=$GOT dups=$DB missing after HUP1: $MB; b missing: $(ranges b $((B1 + 1)) 4000 | cut -c1-150)"
S="a: missing outside the window=$MA dups=$DA; b: missing after HUP1=$MB dups=$DB"
kill -0 $SPID 2>/dev/null && [ "$MA" -eq 0 ] && [ "$DA" -eq 0 ] && [ "$MB" -eq 0 ] && [ "$DB" -eq 0 ] && result PASS "$S"
result FAIL "$S"
