#!/usr/bin/env bash
# 14 a glob 'logs/*.log' over a.log (written throughout) and x.log. Mid-stream x.log is removed and replaced
# by a FIFO named x.log (KIND=fifo, default; nobody writes it), or a directory (KIND=dir), or a socket
# (KIND=sock); a new match y.log appears after it; then the odd entry is removed and a regular x.log
# comes back with new lines. Also the explicit path logs/z.log is a FIFO from the start.
# Expect: a, y and the new x lines all arrive once; the odd entries are warned about, never block others.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/a.log"; genlines x 1 500 >"$L/x.log"; mkfifo "$L/z.log"
MP=$(freeport); K=${KIND:-fifo}
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP --from-beginning "$L/*.log"
sleep 1.5
python3 "$W/writer.py" "$L/a.log" a 3000 0.003 & WA=$!; PIDS+=("$WA")
sleep 2
rm "$L/x.log"
case $K in
fifo) mkfifo "$L/x.log";;
dir) mkdir "$L/x.log";;
sock) python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$L/x.log";;
esac
sleep 1.5; genlines y 1 500 >"$L/y.log"
sleep 2; rm -rf "$L/x.log"; genlines x 501 1000 >"$L/x.log"
wait $WA
settle 4 60
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -E 'level=(WARN|ERROR)' "$W/ship.log" | cut -c1-260 | head -6
kill -0 $SPID 2>/dev/null || echo "shipper exited: $(tail -2 $W/ship.log)"
check a 3000; A="a: missing=$MISS dups=$DUPS"; F=$((MISS + DUPS))
check y 500; Y="y: missing=$MISS dups=$DUPS"; F=$((F + MISS + DUPS))
check x 1000; X="x: missing=$MISS dups=$DUPS"; F=$((F + MISS + DUPS))
[ "$MISS" -gt 0 ] && echo "x missing: $(ranges x 1 1000)"
echo "$A; $Y; $X"
[ "$F" -eq 0 ] && result PASS "KIND=$K: $A; $Y; $X"
result FAIL "KIND=$K: $A; $Y; $X"
