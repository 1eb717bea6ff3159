#!/usr/bin/env bash
# 03 real logrotate -f copytruncate (rotate 9, no compress; COMPRESS=1 adds compress+delaycompress)
# 6 times while a writer appends 4000 numbered lines through one O_APPEND descriptor (never reopened).
# Shipper running (STOP=1: SIGSTOPped during the rotations). Expect: no duplicate, in order, and
# every missing line that is still on disk (in a rotated copy) inside a collector gap
# (collector_gap_bytes_total); lines destroyed by copytruncate unseen may be uncounted (documented).
# HOLD=1: collector stopped during the rotations instead (reading held by a full window).
# NODELAY=1 (with COMPRESS=1): compress without delaycompress (each copy compressed at once).
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/access.log"
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP; start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"
sleep 1.5
python3 "$W/writer.py" "$L/access.log" a 4000 0.002 & WP=$!; PIDS+=("$WP")
cat >"$W/lr.conf" <<C
$L/access.log {
  rotate 9
  copytruncate
  ${COMPRESS:+compress}
  ${COMPRESS:+${NODELAY:+#}delaycompress}
  missingok
}
C
sleep 0.5; [ -n "${STOP:-}" ] && kill -STOP $SPID
if [ -n "${HOLD:-}" ]; then kill -TERM $CPID; wait $CPID 2>/dev/null; fi
for r in 1 2 3 4 5 6; do sleep 1; lrot; done
wait $WP
[ -n "${STOP:-}" ] && kill -CONT $SPID
[ -n "${HOLD:-}" ] && start_collector --metrics-addr 127.0.0.1:$CMP
settle 4 60
check a 4000
LL=$(head -1 "$L/access.log" | wc -c)
gap=$(metric $CMP logspread_collector_gap_bytes_total)
echo "files: $(ls $L | tr '\n' ' ')"
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
OD=$(ondisk_missing a $L); echo "missing lines still on disk (in rotated files): $OD"
echo "got=$GOT/4000 missing=$MISS (=$((MISS*LL)) bytes) dups=$DUPS out-of-order=$ORDER collector gap_bytes=$gap"
[ "$DUPS" -eq 0 ] && [ "$ORDER" -eq 0 ] && [ "$gap" -ge $((OD*LL)) ] && [ "$gap" -le $((MISS*LL)) ] && result PASS "got=$GOT missing=$MISS gap_bytes=$gap"
result FAIL "got=$GOT missing=$MISS (still on disk: $OD) ($((MISS*LL)) bytes) collector gap_bytes=$gap dups=$DUPS order=$ORDER"
