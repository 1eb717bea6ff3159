#!/usr/bin/env bash
# 07 glob 'logs/*.log' over NF=300 files with `ulimit -n 128` (--max-open-files derived); a writer
# appends 9000 numbered lines spread over the files (open-append-close per line); half way, real
# logrotate -f (create, rotate 5, no compress) rotates all 300 files, twice. Expect all lines once,
# in order per file.
. "$(dirname "$0")/lib.sh"
NF=${NF:-300}; N=9000
L="$W/logs"; mkdir -p "$L"; for i in $(seq -w 1 $NF); do : >"$L/f$i.log"; done
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
( ulimit -n ${FDS:-128}; exec "$BIN" ship --spread "$SPREAD" --group www --state-dir "$W/sstate" --metrics-addr 127.0.0.1:$MP "$L/*.log" >>"$W/ship.log" 2>&1 ) &
SPID=$!; PIDS+=("$SPID")
sleep 3
lrconf "$L/*.log" 5 ""
python3 - "$L" $NF $N <<'PY' &
import sys, time, random
d, nf, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(3)
for i in range(1, n+1):
    k = random.randrange(1, nf+1)
    with open('%s/f%0*d.log' % (d, len(str(nf)), k), 'ab') as f:
        f.write(b'10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] "GET /a/%06d HTTP/1.1" 200 f%d\n' % (i, k))
    time.sleep(0.001)
PY
WP=$!; PIDS+=("$WP")
sleep 4; lrot; sleep 2; lrot
wait $WP
settle 6 120
check a $N
# order per file
bo=$(out | grep -o '/a/[0-9]* HTTP/1.1" 200 f[0-9]*' | awk '{split($1,a,"/"); n=a[3]+0; f=$NF; if (n<last[f]) b++; last[f]=n} END{print b+0}')
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
echo "got=$GOT/$N missing=$MISS dups=$DUPS out-of-order-within-file=$bo; ship.log errors: $(grep -c 'level=ERROR' $W/ship.log)"
[ "$MISS" -gt 0 ] && echo "missing: $(ranges a 1 $N | cut -c1-200)"
kill -0 $SPID 2>/dev/null || echo "shipper exited: $(grep -v DEBUG $W/ship.log | tail -2 | cut -c1-300)"
[ "$MISS" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ "$bo" -eq 0 ] && result PASS "$GOT lines once over $NF files, fd limit ${FDS:-128}"
result FAIL "got=$GOT/$N missing=$MISS dups=$DUPS order=$bo ($NF files, ulimit -n ${FDS:-128})"
