#!/usr/bin/env bash
# 20 glob 'logs/*.log' over 50 files, one writer appending a line to each every ~15 ms (O_APPEND, no
# reopen: copytruncate's case). 10 rounds of: SIGKILL the shipper, real logrotate -f copytruncate
# (rotate ROTATE=5, no compress; ROTATE=30 keeps every generation) over the glob, restart the shipper (every other round the rotation runs
# while it is down, else just after the restart). Expect: no line twice; no line that is still on
# disk missing; lines lost in runs of 5 or more per file (whole generations removed by the rotate
# count before they were read: the shipper had seen them) counted at the collector, gap bytes >= their
# size (77-byte lines). Single lines in copytruncate's own window, never seen, are only reported.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; NV=${NV:-50}; N=${N:-700}
for v in $(seq -f %02g 1 $NV); do : >"$L/v$v.log"; done
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP "$L/*.log"
sleep 1.5
cat >"$W/mw.py" <<'PY'
import sys, time
d, nv, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fs = [open('%s/v%02d.log' % (d, v), 'ab', buffering=0) for v in range(1, nv + 1)]
for i in range(1, n + 1):
    for v, f in enumerate(fs, 1):
        f.write(b'10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] "GET /v%02d/%06d HTTP/1.1" 200 512\n' % (v, i))
    time.sleep(0.015)
PY
python3 "$W/mw.py" "$L" $NV $N & WP=$!; PIDS+=("$WP")
cat >"$W/lr.conf" <<C
$L/*.log {
  rotate ${ROTATE:-5}
  copytruncate
  missingok
}
C
for r in $(seq 10); do
	sleep 0.$((RANDOM % 5 + 3))
	kill -KILL $SPID; wait $SPID 2>/dev/null
	[ $((r % 2)) = 0 ] && logrotate -f -s "$W/lr.state" "$W/lr.conf" 2>>"$W/lr.err"
	start_shipper --metrics-addr 127.0.0.1:$MP "$L/*.log"
	[ $((r % 2)) = 1 ] && { sleep 0.3; logrotate -f -s "$W/lr.state" "$W/lr.conf" 2>>"$W/lr.err"; }
done
wait $WP
settle 8 90
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -E 'level=(WARN|ERROR)' "$W/ship.log" | grep -v 'not acknowledged\|presence group' | sed 's/ time=.*//' | cut -c1-200 | sed 's/^time=[^ ]* //' | sort | uniq -c | sort -rn | head -4
ALL=$(for v in $(seq -f %02g 1 $NV); do seq -f "/v$v/%06g" 1 $N; done | sort)
GOTL=$(out | grep -o '/v[0-9]*/[0-9]*' | sort)
DUPS=$(echo "$GOTL" | uniq -d | grep -c .)
MISSL=$(comm -23 <(echo "$ALL") <(echo "$GOTL" | uniq)); NM=$(echo -n "$MISSL" | grep -c .)
ONDISK=$(comm -12 <(echo "$MISSL") <(cat "$L"/* | grep -o '/v[0-9]*/[0-9]*' | sort -u) | grep -c .)
BIGM=$(echo "$MISSL" | awk -F/ 'NF==3{f=$2; n=$3+0; if (f==pf && n==pn+1) r++; else {if (r>=5) big+=r; r=1} pf=f; pn=n} END{if (r>=5) big+=r; print big+0}')
GB=$(metric $CMP 'logspread_collector_gap_bytes_total'); LB=$(metric $MP 'logspread_shipper_lost_bytes_total')
S="ROTATE=${ROTATE:-5}: lines=$((NV * N)) dups=$DUPS missing=$NM ($((NM * 77)) bytes; on disk: $ONDISK; in runs >= 5: $BIGM, $((BIGM * 77)) bytes) gap_bytes=$GB shipper_lost_bytes=$LB"
[ "$DUPS" -gt 0 ] && echo "dup sample: $(echo "$GOTL" | uniq -d | head -4 | tr '\n' ' ')"
[ "$NM" -gt 0 ] && echo "missing sample: $(echo "$MISSL" | head -4 | tr '\n' ' ')"
[ "$DUPS" -eq 0 ] && [ "$ONDISK" -eq 0 ] && [ "$GB" -ge $((BIGM * 77)) ] && result PASS "$S"
result FAIL "$S"
