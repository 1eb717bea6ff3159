#!/usr/bin/env bash
# 04 lines with binary bytes (NUL, CR, 0xff, invalid UTF-8) and sizes around every bound
# (0, 64K-1..64K+1, 142825/6, 1M-1..1M+1, 3M) appended to a followed file in pieces (partial
# writes), and the same bytes piped to `ship -` (SRC=stdin). Expect: every line byte for byte,
# in order, once; lines above --max-line (1M) truncated to a prefix and counted.
. "$(dirname "$0")/lib.sh"
L="$W/logs"; mkdir -p "$L"; : >"$L/access.log"
MP=$(freeport)
python3 - "$W/input" <<'PY'
import sys, random
random.seed(7)
sizes=[0,1,2,100,65535,65536,65537,142825,142826,300000,1048575,1048576,1048577,3*1048576,5,0,77]
sizes=sizes*2
alphabet=bytes(b for b in range(256) if b!=10)
with open(sys.argv[1],'wb') as f:
    for i,s in enumerate(sizes):
        head=b'ID%04d ' % i
        body=bytes(random.choice(alphabet) for _ in range(max(0,s-len(head)))) if s<200 else (bytes(alphabet)*(s//255+1))[:max(0,s-len(head))]
        # mix in CR, NUL, 0xff, broken UTF-8 at the start
        body=b'\r\x00\xff\xc3(' + body[5:] if len(body)>5 else body
        f.write(head+body+b'\n')
PY
start_daemon; start_collector --metrics-addr 127.0.0.1:$CMP
if [ "${SRC:-file}" = stdin ]; then
	"$BIN" ship --spread "$SPREAD" --group www --state-dir "$W/sstate" --metrics-addr 127.0.0.1:$MP - <"$W/input" >>"$W/ship.log" 2>&1 &
	SPID=$!; PIDS+=("$SPID")
else
	start_shipper --metrics-addr 127.0.0.1:$MP "$L/access.log"; sleep 1.5
	python3 - "$W/input" "$L/access.log" <<'PY'
import sys, time
data=open(sys.argv[1],'rb').read()
with open(sys.argv[2],'ab',buffering=0) as f:
    i=0; step=[1,7,4096,65536,100000,3]; k=0
    while i<len(data):
        n=step[k%len(step)]; k+=1
        f.write(data[i:i+n]); i+=n
        if k%5==0: time.sleep(0.01)
PY
fi
settle 4 90
trunc=$(metric $MP logspread_shipper_truncated_lines_total)
echo "shipper: $(dumpm $MP)"; echo "collector: $(dumpm $CMP)"
out >"$W/output"
python3 - "$W/input" "$W/output" "$trunc" >"$W/verdict" <<'PY'
import sys
inp=open(sys.argv[1],'rb').read().split(b'\n')[:-1]
outp=open(sys.argv[2],'rb').read().split(b'\n')
if outp and outp[-1]==b'': outp=outp[:-1]
trunc=int(sys.argv[3])
bad=[]; ML=1<<20
ids=[o[:6] for o in outp]
dups=len(ids)-len(set(ids))
exp_trunc=sum(1 for l in inp if len(l)>ML)
j=0
for i,l in enumerate(inp):
    o=outp[j] if j<len(outp) else None
    j+=1
    if o==l: continue
    if o is not None and len(l)>ML and l.startswith(o) and len(o)>=ML-16: continue
    bad.append((i,len(l),None if o is None else len(o), None if o is None else o[:6]))
print("input lines %d, output lines %d, dup ids %d, mismatches %d, truncated counted %d (expected %d)"%(len(inp),len(outp),dups,len(bad),trunc,exp_trunc))
for b in bad[:8]: print("  line %d len %d -> got len %s id %s"%b)
print("VERDICT", "PASS" if not bad and len(outp)==len(inp) and trunc==exp_trunc and dups==0 else "FAIL")
PY
cat "$W/verdict"; v=$(tail -1 "$W/verdict" | awk '{print $2}')
result "$v" "$(sed -n 1p "$W/verdict")"
