#!/usr/bin/env bash
# 06 a deployment's `current` link switched between releases while both servers write:
# followed path current/logs/access.log; writer A appends rel1 lines; at 1/3 `ln -sfn rel2 current`
# (writer B starts rel2 lines, writer A goes on 2 more seconds, as an old server draining);
# then rel3 and back to rel1 with its writer (NOBACK=1: stays on rel3, d lines appended there). Expect: every line of every writer once.
. "$(dirname "$0")/lib.sh"
D="$W/srv"; mkdir -p "$D/rel1/logs" "$D/rel2/logs" "$D/rel3/logs"; : >"$D/rel1/logs/access.log"
ln -s rel1 "$D/current"
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP; start_shipper --metrics-addr 127.0.0.1:$MP "$D/current/logs/access.log"
sleep 1.5
python3 "$W/writer.py" "$D/rel1/logs/access.log" a 1500 0.002 & A=$!; PIDS+=("$A")
sleep 1.5
python3 "$W/writer.py" "$D/rel2/logs/access.log" b 1500 0.002 & B=$!; PIDS+=("$B")
sleep 0.2; ln -sfn rel2 "$D/current.tmp" && mv -T "$D/current.tmp" "$D/current"
wait $A
python3 "$W/writer.py" "$D/rel3/logs/access.log" c 1000 0.002 & C=$!; PIDS+=("$C")
sleep 0.2; ln -sfn rel3 "$D/current.tmp" && mv -T "$D/current.tmp" "$D/current"
wait $B
if [ -z "${NOBACK:-}" ]; then
python3 "$W/writer.py" "$D/rel1/logs/access.log" d 500 0.002 & E=$!; PIDS+=("$E")
sleep 0.2; ln -sfn rel1 "$D/current.tmp" && mv -T "$D/current.tmp" "$D/current"
wait $C; wait $E
else wait $C; genlines d 1 500 >>"$D/rel3/logs/access.log"; fi
settle 5 60
tot=0; bad=""
for t in a:1500 b:1500 c:1000 d:500; do
	check ${t%:*} ${t#*:}; echo "${t%:*}: got=$GOT/${t#*:} missing=$MISS dups=$DUPS out-of-order=$ORDER"
	[ "$MISS" -gt 0 ] && echo "   missing ${t%:*}: $(ranges ${t%:*} 1 ${t#*:})"
	[ "$MISS" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ "$ORDER" -eq 0 ] || bad="$bad ${t%:*}(miss=$MISS,dup=$DUPS,ord=$ORDER)"
done
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
[ -z "$bad" ] && result PASS "all 4 writers' lines once, in order"
result FAIL "$bad"
