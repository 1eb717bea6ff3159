#!/bin/sh
# logspread preremove (deb: "remove" or "upgrade"; rpm: 0 on erase, 1 on upgrade).
# On removal, stops and disables the units; an upgrade leaves them running.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl stop 'logspread-shipper@*.service' logspread-collector.service logspread-daemon.service >/dev/null 2>&1 || true
fi
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable logspread-daemon.service logspread-collector.service logspread-shipper@.service >/dev/null 2>&1 || true
fi
exit 0
