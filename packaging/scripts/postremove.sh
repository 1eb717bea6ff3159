#!/bin/sh
# logspread postremove (deb: "remove", "purge", "upgrade", ...; rpm: 0 on erase).
# The user and group logspread stay (files they own may remain, and a later install
# reuses them). Purge removes the logrotate stamp older versions created and the state and log
# directories if nothing else is left in them; segments and state are never deleted.
set -e

if [ "$1" = purge ]; then
	rm -f /var/log/logspread/rotate.stamp
	rmdir /var/log/logspread /var/lib/logspread 2>/dev/null || true
fi
if [ -d /run/systemd/system ] && { [ "$1" = remove ] || [ "$1" = purge ] || [ "$1" = 0 ]; }; then
	systemctl daemon-reload >/dev/null || true
fi
exit 0
