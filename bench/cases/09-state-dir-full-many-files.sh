#!/usr/bin/env bash
# 09 state dir on a tiny tmpfs (SIZE, default 48k) while the shipper follows a glob of 200 files
# (started on an empty directory, same flags at both starts); 200 new files appear, each gets lines; the checkpoints (and .gens records) no longer fit.
# MODE=remount: the tmpfs is grown to 10m while the shipper runs, no restart. Else the shipper is stopped (TERM) and restarted with the tmpfs freed (umount, a bigger one
# mounted with the files copied), more lines are written. Expect: shipping never stops while the
# disk is full (logged clearly), and after the restart every line once (resends dropped by collectors).
. "$(dirname "$0")/lib.sh"
NF=200; L="$W/logs"; S="$W/sstate"; mkdir -p "$L" "$S"
mount -t tmpfs -o size=${SIZE:-48k} tmpfs "$S" || result FAIL "cannot mount tmpfs"
on_exit() { umount "$S" 2>/dev/null; }
MP=$(freeport)
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
start_shipper --metrics-addr 127.0.0.1:$MP "$L/*.log"
sleep 2
for i in $(seq -w 1 $NF); do genlines a$i 1 5 >"$L/f$i.log"; done   # new matches: read from their beginning
wait_count $((NF*5)) 60; sleep 2
for i in $(seq -w 1 $NF); do genlines a$i 6 10 >>"$L/f$i.log"; done
wait_count $((NF*10)) 60; settle 3 30
n1=$(count); df -h "$S" | tail -1
alive=yes; kill -0 $SPID 2>/dev/null || alive=no
if [ "${MODE:-restart}" = remount ]; then
	mount -o remount,size=10m "$S"   # space freed while the shipper runs
	for i in $(seq -w 1 $NF); do genlines a$i 11 15 >>"$L/f$i.log"; done
else
	kill -TERM $SPID; wait $SPID 2>/dev/null
	cp -a "$S" "$W/sstate.copy"; umount "$S"; rm -rf "$S"; mv "$W/sstate.copy" "$S"
	for i in $(seq -w 1 $NF); do genlines a$i 11 15 >>"$L/f$i.log"; done
	start_shipper --metrics-addr 127.0.0.1:$MP "$L/*.log"
fi
wait_count $((NF*15)) 60; settle 4 60
tot=$(count); d=$(out | sort | uniq -d | wc -l)
miss=0; for i in $(seq -w 1 $NF); do m=$(out | grep -c "/a$i/"); [ "$m" -ne 15 ] && miss=$((miss + 15 - m)); done
echo "while full: shipper alive=$alive, $n1/$((NF*10)) lines; ENOSPC log lines: $(grep -ci 'no space' $W/ship.log)"
grep -i 'no space' "$W/ship.log" | head -2 | sed 's/.*msg=//' | cut -c1-250
echo "after restart: total=$tot/$((NF*15)) dups=$d missing=$miss; shipper: $(dumpm $MP)"
nlog=$(grep -ci "no space" $W/ship.log); [ "$nlog" -le 200 ] && [ "$alive" = yes ] && [ "$n1" -eq $((NF*10)) ] && [ "$tot" -eq $((NF*15)) ] && [ "$d" -eq 0 ] && result PASS "all $tot lines once"
result FAIL "ENOSPC log lines=$nlog alive while full=$alive n_full=$n1/$((NF*10)) total=$tot/$((NF*15)) dups=$d missing=$miss"
