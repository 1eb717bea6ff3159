#!/usr/bin/env bash
# 08 shipper as `nobody` follows logs/a.log, logs/b.log (glob logs/*.log); writers append to both;
# a.log is chmod 000 for 3 s then 0644 again; b.log is rotated by real logrotate with
# `create 0600 root root` (unreadable new file) and chmod 0644 3 s later. Expect: every line of
# both once, in order; the unreadable spells logged with a remedy, b never blocks a.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L" "$W/sstate"; : >"$L/a.log"; : >"$L/b.log"; chmod 755 "$W" "$L"; chmod 644 "$L"/*.log
chown nobody "$W/sstate"
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
setpriv --reuid=nobody --regid=nogroup --clear-groups "$BIN" ship --spread "$SPREAD" --group www --state-dir "$W/sstate" --metrics-addr 127.0.0.1:$MP "${ARGS:-$L/*.log}" >>"$W/ship.log" 2>&1 &
SPID=$!; PIDS+=("$SPID")
sleep 2
python3 "$W/writer.py" "$L/a.log" a 3000 0.002 & A=$!; PIDS+=("$A")
python3 "$W/writer.py" "$L/b.log" b 3000 0.002 & B=$!; PIDS+=("$B")
cat >"$W/lr.conf" <<C
$L/b.log {
  rotate 5
  create 0600 root root
  missingok
  postrotate
    kill -HUP $B
  endscript
}
C
sleep 1; chmod 000 "$L/a.log"; sleep 3; chmod 644 "$L/a.log"
sleep 0.5; lrot; sleep 3; chmod 644 "$L/b.log"
wait $A $B
settle 5 60
bad=""
for t in a b; do check $t 3000; echo "$t: got=$GOT/3000 missing=$MISS dups=$DUPS order=$ORDER"; [ "$MISS" -gt 0 ] && echo "   missing $t: $(ranges $t 1 3000)"
	[ "$MISS" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ "$ORDER" -eq 0 ] || bad="$bad $t(miss=$MISS,dup=$DUPS,ord=$ORDER)"; done
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -v DEBUG "$W/ship.log" | grep -i 'permission\|unreadable\|readable' | sed 's/.*msg=//' | cut -c1-250 | head -6
[ -z "$bad" ] && result PASS "both files' lines once, in order"
result FAIL "$bad"
