#!/usr/bin/env bash
# 18 Apache-style piped logger where the WRITER dies: a child writes numbered lines into `ship -`, and
# 4 times it writes half a line and is SIGKILLed (an httpd child crash); the pipe closes, `ship -` must
# ship what it has and exit 0; the parent starts a new writer and a new `ship -` on the same
# --state-dir (Apache restarting the piped logger). 5 x 4000 lines. With COLLECTOR_GONE=1 the
# collector is stopped during the 2nd and 3rd writers (journal holds the lines) and started again.
# (COLLECTOR_GONE=1 uses the default --require-collector: a ship - at end of input waits for its
# acknowledgements; after 20 s it is SIGTERMed, exit 1, the journal keeping the lines.)
# Expect: every whole line once, in order; each half line either absent or shipped alone (never glued
# to the next writer's first line); every `ship -` exits 0.
. "$(dirname "$0")/lib.sh"
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
cat >"$W/child.py" <<'PY'
import sys, os, signal, time
a, b, half = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == '1'
out = os.fdopen(1, 'wb', buffering=0)
for i in range(a, b + 1):
    out.write(b'10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] "GET /a/%06d HTTP/1.1" 200 512\n' % i)
    if i % 100 == 0: time.sleep(0.005)
if half:
    out.write(b'10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] "GET /h/%06d' % b)
    time.sleep(0.05); os.kill(os.getpid(), signal.SIGKILL)
PY
: >"$W/exits"
for r in 1 2 3 4 5; do
	rm -f "$W/pipe.$r"; mkfifo "$W/pipe.$r"
	[ "${COLLECTOR_GONE:-0}" = 1 ] && [ $r = 2 ] && { kill -TERM $CPID; wait $CPID 2>/dev/null; }
	[ "${COLLECTOR_GONE:-0}" = 1 ] && [ $r = 4 ] && start_collector --metrics-addr 127.0.0.1:$CMP
	H=1; [ $r = 5 ] && H=0
	RC=--require-collector=false; [ "${COLLECTOR_GONE:-0}" = 1 ] && RC=""
	python3 "$W/child.py" $(( (r - 1) * 4000 + 1 )) $(( r * 4000 )) $H >"$W/pipe.$r" &
	"$BIN" ship --spread "$SPREAD" --group www --state-dir "$W/sstate" $RC - <"$W/pipe.$r" >>"$W/ship.log" 2>&1 & SP=$!
	for _ in $(seq 100); do kill -0 $SP 2>/dev/null || break; sleep 0.2; done
	kill -TERM $SP 2>/dev/null; wait $SP; echo "$?" >>"$W/exits"
done
settle 4 60
echo "collector: $(dumpm $CMP)"; echo "ship exits: $(tr '\n' ' ' <"$W/exits")"
grep -E 'level=(WARN|ERROR)' "$W/ship.log" | cut -c1-250 | sort | uniq -c | head -5
check a 20000
GLUED=$(out | grep -c '/h/[0-9]*10\.0\.0\.1\|/h/[0-9]*[^0-9]*GET /a/')
HALF=$(out | grep -c '/h/')
BADX=$(grep -vc '^0$' "$W/exits"); [ "${COLLECTOR_GONE:-0}" = 1 ] && BADX=$(grep -vc '^[01]$' "$W/exits")
S="got=$GOT/20000 missing=$MISS dups=$DUPS order=$ORDER; half lines shipped=$HALF glued=$GLUED; non-zero exits=$BADX"
[ "$MISS" -gt 0 ] && echo "missing: $(ranges a 1 20000)"
[ "$MISS" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ "$ORDER" -eq 0 ] && [ "$GLUED" -eq 0 ] && [ "$BADX" -eq 0 ] && result PASS "$S"
result FAIL "$S"
