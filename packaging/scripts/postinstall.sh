#!/bin/sh
# logspread postinstall (deb: "configure" [OLD_VERSION]; rpm: 1 on install, 2 on upgrade).
# Creates the system user and group logspread (kept on removal: files it owns may stay),
# its state and log directories, then tells systemd
# about the units. The units are not enabled or started: configure /etc/logspread first.
set -e

case "$1" in
configure | 1 | 2) ;;
*) exit 0 ;;
esac

if ! getent group logspread >/dev/null; then
	groupadd --system logspread
fi
if ! getent passwd logspread >/dev/null; then
	nologin=/usr/sbin/nologin
	[ -x "$nologin" ] || nologin=/sbin/nologin
	useradd --system --gid logspread --home-dir /var/lib/logspread --no-create-home \
		--shell "$nologin" --comment "logspread services" logspread
fi

install -d -m 0750 -o logspread -g logspread /var/lib/logspread /var/log/logspread

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	# An upgrade restarts the services that run (clients reconnect, shippers resend).
	if [ -n "$2" ] || [ "$1" = 2 ]; then
		systemctl try-restart logspread-daemon.service logspread-collector.service 'logspread-shipper@*.service' >/dev/null || true
	fi
fi
exit 0
