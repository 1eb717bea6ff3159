#!/usr/bin/env bash
# 05 writer appends 6000 lines (reopen on HUP); meanwhile, 6 rounds of: SIGKILL the shipper (or the
# collector, WHO=collector; or both, WHO=both), real logrotate -f (create, rotate 20, no compress,
# so every line stays on disk), restart what was killed. Expect: every line once, in order.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/access.log"
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP; start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"
sleep 1.5
python3 "$W/writer.py" "$L/access.log" a 6000 0.002 & WP=$!; PIDS+=("$WP")
for _ in $(seq 100); do [ -s "$L/access.log" ] && break; sleep 0.1; done   # writer's HUP handler is set
lrconf "$L/access.log" 20 "$WP"
WHO=${WHO:-shipper}
for r in 1 2 3 4 5 6; do
	sleep 0.$((RANDOM % 9 + 1))
	case $WHO in shipper|both) kill -KILL $SPID; wait $SPID 2>/dev/null;; esac
	case $WHO in collector|both) kill -KILL $CPID; wait $CPID 2>/dev/null;; esac
	[ $((r % 2)) = 0 ] && lrot
	sleep 0.3
	case $WHO in collector|both) start_collector --metrics-addr 127.0.0.1:$CMP;; esac
	case $WHO in shipper|both) start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log";; esac
	[ $((r % 2)) = 1 ] && { sleep 0.3; lrot; }
done
wait $WP
settle 5 90
check a 6000
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
echo "files: $(ls $L | wc -l)  got=$GOT/6000 missing=$MISS dups=$DUPS out-of-order=$ORDER"
[ "$MISS" -gt 0 ] && echo "missing: $(missing a 1 6000 | cut -c1-200)"
[ "$GOT" -eq 6000 ] && [ "$DUPS" -eq 0 ] && [ "$MISS" -eq 0 ] && [ "$ORDER" -eq 0 ] && result PASS "$GOT lines once, in order ($WHO killed 6 times)"
result FAIL "$WHO killed 6 times: got=$GOT/6000 missing=$MISS dups=$DUPS order=$ORDER"
