#!/usr/bin/env bash
# 16 a writer that pauses mid-line: 8 rounds of 300 lines then half a line (no '\n'); while the line is
# half written, the shipper is SIGTERMed and restarted (rounds 1,5), SIGKILLed and restarted (2,6), the
# file is rotated by logrotate create with the writer still on the old descriptor (3,7: it finishes the
# line there, then reopens on HUP), or rotated while the shipper is down (4,8: SIGKILL, rotate, finish,
# restart). Then the line is finished 1 s later. Expect: every line once, whole (no fragment lines).
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/access.log"
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"
sleep 1.5
cat >"$W/pw.py" <<'PY'
import sys, os, signal, time
path, w, rounds, per = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
hup = [False]
signal.signal(signal.SIGHUP, lambda *a: hup.__setitem__(0, True))
f = open(path, 'ab', buffering=0)
i = 0
def line(i): return b'10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] "GET /a/%06d HTTP/1.1" 200 512\n' % i
for r in range(1, rounds + 1):
    for _ in range(per):
        i += 1; f.write(line(i)); time.sleep(0.001)
    i += 1; l = line(i); f.write(l[:40])
    open('%s/half.%d' % (w, r), 'w').close()
    while not os.path.exists('%s/go.%d' % (w, r)): time.sleep(0.02)
    f.write(l[40:])
    if hup[0]:
        hup[0] = False; f.close(); f = open(path, 'ab', buffering=0)
for _ in range(per):
    i += 1; f.write(line(i)); time.sleep(0.001)
print(i)
PY
python3 "$W/pw.py" "$L/access.log" "$W" 8 300 >"$W/total" & WP=$!; PIDS+=("$WP")
lrconf "$L/access.log" 20 "$WP"
for r in 1 2 3 4 5 6 7 8; do
	for _ in $(seq 300); do [ -e "$W/half.$r" ] && break; sleep 0.05; done
	sleep 0.5
	case $((r % 4)) in
	1) kill -TERM $SPID; wait $SPID 2>/dev/null; start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log";;
	2) kill -KILL $SPID; wait $SPID 2>/dev/null; start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log";;
	3) lrot;;
	0) kill -KILL $SPID; wait $SPID 2>/dev/null; lrot;;
	esac
	sleep 1; touch "$W/go.$r"
	[ $((r % 4)) = 0 ] && { sleep 0.3; start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"; }
done
wait $WP; T=$(cat "$W/total")
settle 8 90
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
BAD=$(out | grep -vcE '^10\.0\.0\.1 - - \[30/Nov/2026:10:00:00 \+0000\] "GET /a/[0-9]{6} HTTP/1\.1" 200 512$')
[ "$BAD" -gt 0 ] && { echo "fragments:"; out | grep -vE '^10\.0\.0\.1 .*"GET /a/[0-9]{6} HTTP/1\.1" 200 512$' | head -4; grep -E 'level=WARN' "$W/ship.log" | grep -v 'not acknowledged' | cut -c1-250 | head -4; }
check a "$T"
S="got=$GOT/$T missing=$MISS dups=$DUPS order=$ORDER fragments=$BAD"
[ "$MISS" -gt 0 ] && echo "missing: $(ranges a 1 $T)"
[ "$DUPS" -gt 0 ] && echo "dups: $(out | grep -o '/a/[0-9]*' | sort | uniq -d | head -5 | tr '\n' ' ')"
[ "$MISS" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ "$ORDER" -eq 0 ] && [ "$BAD" -eq 0 ] && result PASS "$S"
result FAIL "$S"
