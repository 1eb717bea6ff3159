#!/usr/bin/env bash
# 02 shipper SIGSTOPped while real logrotate (create, compress, delaycompress, rotate 9) runs 4
# times and a writer appends 2000 lines (reopen on HUP); then SIGCONT. Lines only in generations
# compressed while paused (MODE=kill: SIGKILL then restart instead) cannot be read: they must be a counted gap of exactly their size at the collector (collector_gap_bytes_total); none duplicated.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/access.log"
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP; start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"
sleep 1.5
python3 "$W/writer.py" "$L/access.log" a 2000 0.003 & WP=$!; PIDS+=("$WP")
for _ in $(seq 100); do [ -s "$L/access.log" ] && break; sleep 0.1; done   # writer\'s HUP handler is set
sleep 1
if [ "${MODE:-stop}" = kill ]; then kill -KILL $SPID; wait $SPID 2>/dev/null; else kill -STOP $SPID; fi
lrconf "$L/access.log" 9 "$WP" compress "${DELAY-delaycompress}"
for r in 1 2 3 4; do sleep 1.2; lrot; done
wait $WP
if [ "${MODE:-stop}" = kill ]; then start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"; else kill -CONT $SPID; fi
settle 4 60
check a 2000
LL=$(head -1 "$L/access.log" | wc -c)
lost=$(metric $MP logspread_shipper_lost_bytes_total)
gone=$(metric $MP logspread_shipper_checkpointed_files_gone_total)
echo "files: $(ls $L | tr '\n' ' ')"
echo "got=$GOT/2000 missing=$MISS (=$((MISS*LL)) bytes) dups=$DUPS out-of-order=$ORDER lost_bytes=$lost"
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -i 'compress\|lost\|gone' "$W/ship.log" | head -5 | cut -c1-300
[ "$DUPS" -eq 0 ] && [ "$ORDER" -eq 0 ] && gap=$(metric $CMP logspread_collector_gap_bytes_total); [ "$gap" -eq $((MISS*LL)) ] && result PASS "got=$GOT missing=$MISS counted lost_bytes=$lost"
result FAIL "got=$GOT missing=$MISS ($((MISS*LL)) bytes) collector gap_bytes=$gap dups=$DUPS order=$ORDER lost_bytes=$lost"
