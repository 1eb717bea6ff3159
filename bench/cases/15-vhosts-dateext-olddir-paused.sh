#!/usr/bin/env bash
# 15 glob 'logs/*-access.log' over 20 vhost logs, one writer appending to all (reopen on HUP; 77-byte lines). logrotate
# dateext (dateformat -%Y%m%d-%s) + olddir ../old + compress + delaycompress + sharedscripts, ROT (3)
# rotations 1.1 s apart while the shipper is SIGSTOPped; --rotated-names names ../old/{name}-[0-9]*.
# PATHS=1 names each file instead of the glob. OLDDIR=0, DATEEXT=0, SHARED=0 drop olddir, dateext, sharedscripts.
# ROT=2: every line is still on disk uncompressed: expect all once, in order per vhost.
# ROT>=3: the oldest generations get compressed before they are read: expect the lines missing to be
# exactly those only in .gz files, and the collector's gap bytes to equal their size.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; O="$W/old"; mkdir -p "$L" "$O"; NV=${NV:-20}; N=${N:-1500}; ROT=${ROT:-3}
for v in $(seq -f %02g 1 $NV); do : >"$L/v$v-access.log"; done
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
SRCS=("$L/*-access.log"); [ "${PATHS:-0}" = 1 ] && SRCS=($(for v in $(seq -f %02g 1 $NV); do echo "$L/v$v-access.log"; done))
start_shipper --metrics-addr 127.0.0.1:$MP --rotated-names '{name}-[0-9]*,{name}.[0-9]*,../old/{name}-[0-9]*,../old/{name}.[0-9]*' "${SRCS[@]}"
sleep 1.5
cat >"$W/mw.py" <<'PY'
import sys, signal, time
d, nv, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = ['%s/v%02d-access.log' % (d, v) for v in range(1, nv + 1)]
hup = [False]
signal.signal(signal.SIGHUP, lambda *a: hup.__setitem__(0, True))
fs = [open(p, 'ab', buffering=0) for p in names]
for i in range(1, n + 1):
    if hup[0]:
        hup[0] = False
        for f in fs: f.close()
        fs = [open(p, 'ab', buffering=0) for p in names]
    for v, f in enumerate(fs, 1):
        f.write(b'10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] "GET /v%02d/%06d HTTP/1.1" 200 512\n' % (v, i))
    time.sleep(0.002)
open(d + '/../mw.done', 'w').close()
PY
python3 "$W/mw.py" "$L" $NV $N & WP=$!; PIDS+=("$WP")
for _ in $(seq 100); do [ -s "$L/v01-access.log" ] && break; sleep 0.1; done
OD="olddir $O"; [ "${OLDDIR:-1}" = 0 ] && { OD=""; O="$L"; }
DE="dateext
  dateformat -%Y%m%d-%s"; [ "${DATEEXT:-1}" = 0 ] && DE=""
SS="sharedscripts"; [ "${SHARED:-1}" = 0 ] && SS=""
cat >"$W/lr.conf" <<C
$L/*-access.log {
  rotate 10
  $OD
  $DE
  compress
  delaycompress
  $SS
  create 0644 root root
  missingok
  postrotate
    kill -HUP $WP
  endscript
}
C
sleep 1; kill -STOP $SPID
for r in $(seq "$ROT"); do sleep 1.1; lrot; done
sleep 0.5; kill -CONT $SPID
wait $WP
settle 10 90
echo "old: $(ls $O | wc -l) files, $(ls $O | grep -c gz) gz; lr.err: $(head -c 200 $W/lr.err)"
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
grep -E 'level=(WARN|ERROR)' "$W/ship.log" | grep -v 'no collector in the presence' | cut -c1-250 | head -4
# lines only in .gz files
GZ=$(for f in "$O"/*.gz; do [ -e "$f" ] && zcat "$f"; done | grep -o '/v[0-9]*/[0-9]*' | sort -u)
MISSL=$(comm -23 <(for v in $(seq -f %02g 1 $NV); do seq -f "/v$v/%06g" 1 $N; done | sort) <(out | grep -o '/v[0-9]*/[0-9]*' | sort -u))
NM=$(echo -n "$MISSL" | grep -c .); NMGZ=$(comm -12 <(echo "$MISSL") <(echo "$GZ") | grep -c .)
DUPS=$(out | grep -o '/v[0-9]*/[0-9]*' | sort | uniq -d | wc -l)
ORD=0; for v in $(seq -f %02g 1 $NV); do
	o=$(out | grep -o "/v$v/[0-9]*" | sed 's,.*/0*,,' | awk 'p!="" && $1<p {b++} {p=$1} END{print b+0}'); ORD=$((ORD + o)); done
GAPB=$(metric $CMP 'logspread_collector_gap_bytes_total'); LOSTB=$(metric $MP 'logspread_shipper_lost_bytes_total')
S="NV=$NV PATHS=${PATHS:-0} ROT=$ROT OLDDIR=${OLDDIR:-1} DATEEXT=${DATEEXT:-1} SHARED=${SHARED:-1}: missing=$NM (of them only in .gz: $NMGZ, $((NM * 77)) bytes) gap_bytes=$GAPB shipper_lost_bytes=$LOSTB dups=$DUPS order=$ORD"
[ "$NM" -gt 0 ] && echo "missing sample: $(echo "$MISSL" | head -3 | tr '\n' ' ')"
[ "$DUPS" -eq 0 ] && [ "$ORD" -eq 0 ] && [ "$NM" -eq "$NMGZ" ] && [ "$GAPB" -eq $((NM * 77)) ] && result PASS "$S"
result FAIL "$S"
