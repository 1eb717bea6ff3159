#!/usr/bin/env bash
# Runs systemd-analyze verify on the unit files, with ExecStart pointing at a freshly
# built logspread binary (verify insists that the executable exists).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here/.." && go build -o "$tmp/logspread" ./cmd/logspread)
for u in "$here"/*.service; do
	sed "s#/usr/local/bin/logspread#$tmp/logspread#g" "$u" >"$tmp/$(basename "$u")"
done
cp "$tmp/logspread-shipper@.service" "$tmp/logspread-shipper@www.service"
cd "$tmp"
status=0
out=$(systemd-analyze verify --man=no ./logspread-daemon.service ./logspread-collector.service ./logspread-shipper@www.service 2>&1) || status=$?
# Any warning about our units (unknown keys, bad values) fails too, not just refusals.
if [ "$status" -ne 0 ] || echo "$out" | grep -q 'logspread'; then
	echo "$out"
	echo "systemd-analyze verify failed (status $status)"
	exit 1
fi
echo "systemd units verified"
