#!/usr/bin/env bash
# 19 clock trouble on rotated files: the shipper is SIGSTOPped (MODE=stop, default) or SIGKILLed and
# restarted after (MODE=kill) while logrotate (create, rotate 9, no compress) rotates 3 times; then,
# before it resumes, the generations it has not read get odd modification times: TOUCH=past (default:
# `touch -d '2020-01-01'` on access.log.1 and .2, a backup restore or a clock fixed backwards),
# TOUCH=future (`-d '+1 year'` on access.log.3), TOUCH=swap (.1 older than .3).
# Every generation is still on disk uncompressed. Expect: every line once (order within each file),
# and no loss reported (files_missed, lost_bytes, gap_bytes all 0).
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/access.log"
MP=$(freeport); M=${MODE:-stop}; T=${TOUCH:-past}
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"
sleep 1.5
python3 "$W/writer.py" "$L/access.log" a 2000 0.003 & WP=$!; PIDS+=("$WP")
for _ in $(seq 100); do [ -s "$L/access.log" ] && break; sleep 0.1; done
lrconf "$L/access.log" 9 "$WP"
sleep 1
if [ "$M" = stop ]; then kill -STOP $SPID; else kill -KILL $SPID; wait $SPID 2>/dev/null; fi
for r in 1 2 3; do sleep 1.1; lrot; done
sleep 0.3
case $T in
past) touch -d '2020-01-01' "$L/access.log.1" "$L/access.log.2";;
future) touch -d '+1 year' "$L/access.log.3";;
swap) touch -d '-10 min' "$L/access.log.1"; touch -d '-5 min' "$L/access.log.3";;
esac
if [ "$M" = stop ]; then kill -CONT $SPID; else start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"; fi
wait $WP
settle 8 60
echo "files: $(cd $L && for f in access.log.*; do echo -n "$f=$(head -1 $f | grep -o '/a/[0-9]*')..$(tail -1 $f | grep -o '/a/[0-9]*') "; done)"
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -E 'level=(WARN|ERROR)' "$W/ship.log" | grep -v 'not acknowledged' | cut -c1-260 | head -4
check a 2000
ONDISK=$(ondisk_missing a "$L")
FM=$(metric $MP 'logspread_shipper_files_missed_total'); LB=$(metric $MP 'logspread_shipper_lost_bytes_total'); GB=$(metric $CMP 'logspread_collector_gap_bytes_total')
S="MODE=$M TOUCH=$T: got=$GOT/2000 missing=$MISS (on disk: $ONDISK) dups=$DUPS order=$ORDER; reported: files_missed=$FM lost_bytes=$LB gap_bytes=$GB"
[ "$MISS" -gt 0 ] && echo "missing: $(ranges a 1 2000)"
[ "$MISS" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ $((FM + LB + GB)) -eq 0 ] && result PASS "$S"
result FAIL "$S"
