#!/usr/bin/env bash
# 23 rapid rotation under load, shipper running: a writer appends 30000 lines as fast as it can (reopen
# on HUP) while logrotate with `size 40k` (create, rotate 1000: every generation kept, no compress;
# COPYTRUNCATE=1: copytruncate instead) runs in a loop every 50 ms, so a generation lives ~0.1-0.5 s.
# GLOB=1 follows 'logs/*.log' instead of the path. Expect: every line once, in order (create);
# with copytruncate no line twice and no line still on disk missing.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/access.log"
MP=$(freeport); ARG="$L/access.log"; [ "${GLOB:-0}" = 1 ] && ARG="$L/*.log"
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP "$ARG"
sleep 1.5
python3 "$W/writer.py" "$L/access.log" a 30000 0.0002 & WP=$!; PIDS+=("$WP")
for _ in $(seq 100); do [ -s "$L/access.log" ] && break; sleep 0.1; done
if [ "${COPYTRUNCATE:-0}" = 1 ]; then HOW="copytruncate"; else HOW="create 0644 root root
  postrotate
    kill -HUP $WP
  endscript"; fi
cat >"$W/lr.conf" <<C
$L/access.log {
  size 40k
  rotate 1000
  missingok
  $HOW
}
C
NR=0
while kill -0 $WP 2>/dev/null; do logrotate -s "$W/lr.state" "$W/lr.conf" 2>>"$W/lr.err"; sleep 0.05; done
wait $WP
settle 6 90
echo "generations: $(ls $L | grep -c 'access.log\.[0-9]')"
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -E 'level=(WARN|ERROR)' "$W/ship.log" | grep -v 'not acknowledged\|presence group' | sed 's/^time=[^ ]* //' | cut -c1-200 | sort | uniq -c | sort -rn | head -4
check a 30000; ONDISK=$(ondisk_missing a "$L")
S="GLOB=${GLOB:-0} COPYTRUNCATE=${COPYTRUNCATE:-0}: got=$GOT/30000 missing=$MISS (on disk: $ONDISK) dups=$DUPS order=$ORDER"
[ "$MISS" -gt 0 ] && echo "missing: $(ranges a 1 30000 | cut -c1-200)"
if [ "${COPYTRUNCATE:-0}" = 1 ]; then [ "$DUPS" -eq 0 ] && [ "$ONDISK" -eq 0 ] && result PASS "$S"
else [ "$MISS" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ "$ORDER" -eq 0 ] && result PASS "$S"; fi
result FAIL "$S"
