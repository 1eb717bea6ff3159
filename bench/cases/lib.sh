LOGSPREAD=${LOGSPREAD:-/tmp/brk/logspread}
# ---- common harness (inlined; loopback only; kills only the PIDs it started) ----
set -u
BIN=${LOGSPREAD:-${TMPDIR:-/tmp}/logspread-cases/logspread}
if [ ! -x "$BIN" ]; then
	mkdir -p "$(dirname "$BIN")"
	(cd "${PROJECT:-.}" && go build -o "$BIN" ./cmd/logspread) || { echo "RESULT FAIL: cannot build logspread"; exit 2; }
fi
mkdir -p ${TMPDIR:-/tmp}/logspread-cases
W=$(mktemp -d "${TMPDIR:-/tmp}/logspread-cases/$(basename "$0" .sh).XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 25); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
	done
	if declare -F on_exit >/dev/null; then on_exit; fi
	if [ -n "${KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PORT=$(freeport)
SPREAD="$PORT@127.0.0.1"
start_daemon() {
	"$BIN" daemon --listen "127.0.0.1:$PORT" >"$W/daemon.log" 2>&1 &
	DPID=$!; PIDS+=("$DPID")
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "RESULT FAIL: daemon did not start"; exit 1
}
start_collector() { # extra collect flags
	mkdir -p "$W/out"
	"$BIN" collect --spread "$SPREAD" --state-dir "$W/cstate" --dir "$W/out" --log www=www.log \
		--flush-interval 200ms "$@" >>"$W/collector.log" 2>&1 &
	CPID=$!; PIDS+=("$CPID")
}
start_shipper() { # ship flags and paths
	"$BIN" ship --spread "$SPREAD" --group www --state-dir "$W/sstate" "$@" >>"$W/ship.log" 2>&1 &
	SPID=$!; PIDS+=("$SPID")
}
out() { local f; for f in $(ls -tr "$W"/out/www.log* 2>/dev/null); do "$BIN" cat "$f" 2>>"$W/cat.err"; done; }
count() { out | wc -l; }
wait_count() { # N timeout_s: wait until at least N lines are written
	local n=$1 t=$2 i
	for ((i = 0; i < t * 5; i++)); do
		[ "$(count)" -ge "$n" ] && return 0
		sleep 0.2
	done
	return 1
}
settle() { # wait until the output line count has not changed for $1 s (at most $2 s)
	local quiet=$1 max=$2 last=-1 same=0 i c
	for ((i = 0; i < max * 5; i++)); do
		c=$(count)
		if [ "$c" = "$last" ]; then same=$((same + 1)); else same=0; last=$c; fi
		[ "$same" -ge $((quiet * 5)) ] && return 0
		sleep 0.2
	done
}
genlines() { # tag from to: numbered access-log lines (75 bytes each for 1-char tags)
	awk -v p="$1" -v a="$2" -v b="$3" 'BEGIN{for(i=a;i<=b;i++) printf "10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] \"GET /%s/%06d HTTP/1.1\" 200 512\n", p, i}'
}
missing() { # tag from to: numbers of tag lines absent from the output
	comm -23 <(seq "$2" "$3" | sort) <(out | grep -o "/$1/[0-9]*" | sed 's,.*/0*,,' | sort -u) | sort -n | tr '\n' ' '
}
latency() { # seconds from now until the output holds at least $1 lines (max $2 s)
	local t0 t1; t0=$(date +%s.%N); wait_count "$1" "$2"; t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}'
}
result() { # PASS|FAIL text...
	local r=$1; shift
	echo "RESULT $r: $*"
	[ "$r" = PASS ] && exit 0 || exit 1
}
# ---- end of common harness ----
# ---- brk additions ----
BIN=${LOGSPREAD:-/tmp/brk/logspread}
metric() { # port name-regex: sum of matching samples
	curl -s "127.0.0.1:$1/metrics" | awk -v re="^$2" '$0 ~ re {s+=$NF} END{printf "%d", s}'
}
# writer.py: writes numbered lines "tag N" to path, holding fd, reopen on SIGHUP
cat >"$W/writer.py" <<'PY'
import sys, os, signal, time
path, tag, n, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
pad = int(sys.argv[5]) if len(sys.argv) > 5 else 0
reopen = [False]
def hup(*a): reopen[0] = True
signal.signal(signal.SIGHUP, hup)
f = open(path, 'ab', buffering=0)
for i in range(1, n + 1):
    if reopen[0]:
        reopen[0] = False; f.close(); f = open(path, 'ab', buffering=0)
    f.write(('10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] "GET /%s/%06d HTTP/1.1" 200 %s\n' % (tag, i, 'x' * pad)).encode())
    if delay: time.sleep(delay)
f.close()
open(path + '.done-' + tag, 'w').close()
PY
# check tag n: prints counts; sets MISS DUPS GOT
check() {
	local tag=$1 n=$2
	GOT=$(out | grep -c "/$1/")
	DUPS=$(out | grep -o "/$1/[0-9]*" | sort | uniq -d | wc -l)
	MISS=$(missing "$tag" 1 "$n" | wc -w)
	ORDER=$(out | grep -o "/$1/[0-9]*" | sed 's,.*/0*,,' | awk 'p!="" && $1<p {b++} {p=$1} END{print b+0}')
}
CMP=$(freeport)
lrconf() { # pattern rotate pids [directive...]: $W/lr.conf (create, missingok, sharedscripts, the directives; postrotate HUPs pids unless "")
	local pat=$1 keep=$2 pids=$3 d; shift 3
	{ echo "$pat {"; echo "  rotate $keep"; echo "  create 0644 root root"; echo "  missingok"; echo "  sharedscripts"
	  for d in "$@"; do echo "  $d"; done
	  [ -n "$pids" ] && { echo "  postrotate"; echo "    kill -HUP $pids"; echo "  endscript"; }
	  echo "}"; } >"$W/lr.conf"
}
lrot() { logrotate -f -s "$W/lr.state" "$W/lr.conf" 2>>"$W/lr.err"; } # one forced rotation by $W/lr.conf
dumpm() { # port: interesting non-zero metrics
	curl -s "127.0.0.1:$1/metrics" | grep -E '^logspread_[a-z_]*(gap|lost|missed|gone|unacked|jump|unknown|reread|truncated_lines|file_errors|unused|notices|dropped)[a-z_]*(\{[^}]*\})? ' | awk '$NF!=0' | sed 's/^logspread_//' | tr '\n' ' '; echo
}
ondisk_missing() { # tag dir: count of tag lines present in files on disk (decompressed) but not in the output
	comm -23 <(for f in "$2"/*; do case $f in *.done-*) continue;; esac; zcat -f "$f"; done 2>/dev/null | grep -o "/$1/[0-9]*" | sort -u) <(out | grep -o "/$1/[0-9]*" | sort -u) | wc -l
}
ranges() { # tag from to: missing numbers as ranges
	missing "$@" | tr ' ' '\n' | awk 'NF{ if (s=="") {s=$1;p=$1} else if ($1==p+1) p=$1; else {printf "%s-%s ", s, p; s=$1; p=$1} } END{ if (s!="") printf "%s-%s", s, p; print "" }'
}
