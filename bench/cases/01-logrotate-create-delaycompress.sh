#!/usr/bin/env bash
# 01 real logrotate -f (create, dateext, compress, delaycompress, rotate 4) 5 times while a
# writer appends 3000 numbered lines (reopening on SIGHUP from postrotate, like nginx USR1).
# Shipper running normally. Expect: 3000 lines, once each, in order.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/access.log"
MP=$(freeport)
start_daemon; start_collector; start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"
sleep 1.5
python3 "$W/writer.py" "$L/access.log" a 3000 0.003 & WP=$!; PIDS+=("$WP")
for _ in $(seq 100); do [ -s "$L/access.log" ] && break; sleep 0.1; done   # writer\'s HUP handler is set
lrconf "$L/access.log" 4 "$WP" dateext "dateformat -%Y%m%d-%s" compress delaycompress
for r in 1 2 3 4 5; do sleep 1.2; lrot; done
wait $WP
wait_count 3000 40; settle 3 30
check a 3000
lost=$(metric $MP logspread_shipper_lost_bytes_total)
echo "files: $(ls $L | tr '\n' ' ')"
echo "got=$GOT/3000 missing=$MISS dups=$DUPS out-of-order=$ORDER lost_bytes=$lost"
[ "$GOT" -eq 3000 ] && [ "$DUPS" -eq 0 ] && [ "$MISS" -eq 0 ] && [ "$ORDER" -eq 0 ] && result PASS "$GOT lines once, in order"
result FAIL "got=$GOT missing=$MISS dups=$DUPS order=$ORDER lost_bytes=$lost"
