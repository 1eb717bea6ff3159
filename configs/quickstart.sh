#!/usr/bin/env bash
# logspread quick start: the whole pipeline on one machine, in a temporary directory.
#
#   bash configs/quickstart.sh
#
# 1. builds logspread (or uses $LOGSPREAD if set),
# 2. starts a collector with the embedded Spread daemon (collect --serve) on a unix socket,
# 3. ships the bundled sample access log (2,000 combined-format lines) through it, as
#    Apache's piped logging would (on stdin; ship exits once every line is acknowledged),
# 4. stops the collector (SIGTERM: segments closed cleanly) and shows the merged,
#    zstd-compressed result with `logspread cat`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/logspread-quickstart.XXXXXX")
collector_pid=""
cleanup() {
	if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
		kill -TERM "$collector_pid" 2>/dev/null || true
		wait "$collector_pid" 2>/dev/null || true
	fi
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

bin=${LOGSPREAD:-}
if [ -z "$bin" ]; then
	echo "== building logspread"
	(cd "$top" && go build -o "$work/logspread" ./cmd/logspread)
	bin="$work/logspread"
fi
sock="$work/spread.sock"
sample="$top/configs/sample/access.log"

echo "== starting a collector with the embedded Spread daemon on $sock"
"$bin" collect --serve "unix:$sock" --dir "$work/out" --state-dir "$work/collector-state" \
	--log 'www=www-%Y%m%d.log.zst' --flush-interval 200ms 2>"$work/collector.log" &
collector_pid=$!
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	kill -0 "$collector_pid" 2>/dev/null || { cat "$work/collector.log"; exit 1; }
	sleep 0.1
done

echo "== shipping $(wc -l <"$sample") lines of $sample into group www"
"$bin" ship --group www --spread "unix:$sock" --state-dir "$work/shipper-state" - <"$sample" 2>"$work/shipper.log"

echo "== stopping the collector (segments are closed cleanly)"
kill -TERM "$collector_pid"
wait "$collector_pid"
collector_pid=""

echo "== the merged log"
ls -l "$work"/out/
raw=$(wc -c <"$sample")
packed=$(cat "$work"/out/*.zst | wc -c)
echo "sample: $raw bytes; segment: $packed bytes (zstd, $((raw / packed))x smaller)"
echo "first lines (logspread cat):"
{ "$bin" cat "$work"/out/*.zst || true; } | head -3
if "$bin" cat "$work"/out/*.zst | cmp -s - "$sample"; then
	echo "OK: the segment holds every line of the sample exactly once, in order"
else
	echo "MISMATCH between the segment and the sample" >&2
	exit 1
fi
