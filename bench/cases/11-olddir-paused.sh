#!/usr/bin/env bash
# 11 logrotate olddir (create, rotate 9, no compress) 4 times while the shipper is SIGSTOPped
# (STOP=1, default) or running (STOP=0); --rotated-names names ../old. Writer reopens on HUP.
# Expect: all 2000 lines once, in order (every generation is still on disk in old/).
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L" "$W/old"; : >"$L/access.log"
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP --rotated-names '{name}.[0-9]*,../old/{name}.[0-9]*' "$L/access.log"
sleep 1.5
python3 "$W/writer.py" "$L/access.log" a 2000 0.003 & WP=$!; PIDS+=("$WP")
for _ in $(seq 100); do [ -s "$L/access.log" ] && break; sleep 0.1; done   # writer\'s HUP handler is set
cat >"$W/lr.conf" <<C
$L/access.log {
  rotate 9
  olddir $W/old
  create 0644 root root
  missingok
  postrotate
    kill -HUP $WP
  endscript
}
C
sleep 1; [ "${STOP:-1}" = 1 ] && kill -STOP $SPID
for r in 1 2 3 4; do sleep 1.2; lrot; done
wait $WP
[ "${STOP:-1}" = 1 ] && kill -CONT $SPID
settle 4 60
check a 2000
echo "old: $(ls $W/old | tr '\n' ' ')"; echo "shipper: $(dumpm $MP)"
echo "got=$GOT/2000 missing=$MISS dups=$DUPS order=$ORDER; missing: $(ranges a 1 2000)"
[ "$MISS" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ "$ORDER" -eq 0 ] && result PASS "$GOT lines once, in order"
result FAIL "got=$GOT/2000 missing=$MISS dups=$DUPS order=$ORDER"
