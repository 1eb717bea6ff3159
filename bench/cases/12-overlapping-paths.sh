#!/usr/bin/env bash
# 12 two arguments naming the same file: `ship 'logs/*.log' logs/a.log logs/./a.log` (a user adding the
# main log explicitly to a glob that already matches it), plus b.log under the glob only. 3000 lines
# into each; one logrotate create rotation (rotate 5, no compress) halfway; then a restart.
# ORDER_ARGS=path puts the path before the glob; ORDER_ARGS=link follows logs/current -> a.log and the glob.
# Expect: every line of a and b once, in order; no file read by two streams.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/a.log"; : >"$L/b.log"
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
case ${ORDER_ARGS:-glob} in
glob) ARGS=("$L/*.log" "$L/a.log" "$L/./a.log");;
path) ARGS=("$L/a.log" "$L/./a.log" "$L/*.log");;           # the path first, then the glob
link) ln -s a.log "$L/current"; ARGS=("$L/current" "$L/*.log");;  # a symlink to a glob match
esac
start_shipper --metrics-addr 127.0.0.1:$MP "${ARGS[@]}"
sleep 1.5
python3 "$W/writer.py" "$L/a.log" a 3000 0.002 & WA=$!; PIDS+=("$WA")
python3 "$W/writer.py" "$L/b.log" b 3000 0.002 & WB=$!; PIDS+=("$WB")
for _ in $(seq 100); do [ -s "$L/a.log" ] && [ -s "$L/b.log" ] && break; sleep 0.1; done
lrconf "$L/*.log" 5 "$WA $WB"
sleep 3; lrot
sleep 1; kill -TERM $SPID; wait $SPID 2>/dev/null
start_shipper --metrics-addr 127.0.0.1:$MP "${ARGS[@]}"
wait $WA $WB
settle 4 60
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -iE 'warn|error|same file|twice' "$W/ship.log" | head -5
check a 3000; A="a: got=$GOT missing=$MISS dups=$DUPS order=$ORDER"; AF=$((MISS + DUPS + ORDER))
check b 3000; B="b: got=$GOT missing=$MISS dups=$DUPS order=$ORDER"; BF=$((MISS + DUPS + ORDER))
echo "$A; $B"
[ "$AF" -gt 0 ] && echo "a missing: $(ranges a 1 3000 | cut -c1-200); dup sample: $(out | grep -o '/a/[0-9]*' | sort | uniq -d | head -3 | tr '\n' ' ')"
[ "$AF" -eq 0 ] && [ "$BF" -eq 0 ] && result PASS "$A; $B"
result FAIL "$A; $B"
