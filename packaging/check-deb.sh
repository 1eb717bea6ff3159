#!/usr/bin/env bash
# CI check of the .deb (as root, on a Debian machine): builds it, installs it with
# dpkg -i, runs `logspread version`, checks the installed units with systemd-analyze
# verify and the collector's logrotate snippet with logrotate --debug, then removes and
# purges it. The machine is left as it was: a logspread user and group, and the
# directories the package created, are removed again if they did not exist before
# (the package itself keeps the user on removal).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "check-deb.sh installs a package: run it as root"; exit 1; }
command -v dpkg >/dev/null 2>&1 || { echo "check-deb.sh needs dpkg (Debian or Ubuntu)"; exit 1; }
# One check at a time on this machine (CI runs of several checkouts share it).
exec 9>/tmp/logspread-check-deb.lock
flock 9

if dpkg-query -W -f='${Status}' logspread 2>/dev/null | grep -q 'ok installed'; then
	echo "logspread is installed on this machine already; not touching it"
	exit 1
fi
had_user=$(getent passwd logspread >/dev/null && echo yes || echo no)
had_group=$(getent group logspread >/dev/null && echo yes || echo no)
had_dirs=()
for d in /var/lib/logspread /var/log/logspread /etc/logspread; do
	[ -e "$d" ] && had_dirs+=("$d")
done

cleanup() {
	status=$?
	dpkg --purge logspread >/dev/null 2>&1 || true
	[ "$had_user" = yes ] || userdel logspread 2>/dev/null || true
	[ "$had_group" = yes ] || groupdel logspread 2>/dev/null || true
	for d in /var/lib/logspread /var/log/logspread /etc/logspread; do
		case " ${had_dirs[*]} " in *" $d "*) ;; *) rm -rf "$d" ;; esac
	done
	exit "$status"
}
trap cleanup EXIT

rm -f dist/logspread_*.deb
bash packaging/build.sh deb
deb=$(ls dist/logspread_*.deb)
dpkg -i "$deb"

echo "== installed: logspread version"
/usr/bin/logspread version
id logspread
for f in /etc/logspread/daemon.yaml /etc/logspread/collector.yaml /etc/logspread/shipper/www.yaml /usr/share/doc/logspread/examples/logrotate/logspread-collector; do
	[ -e "$f" ] || { echo "missing after install: $f"; exit 1; }
done
echo "== installed: /usr/share/doc/logspread/copyright (Debian policy 12.5, machine-readable format)"
bash packaging/check-copyright.sh /usr/share/doc/logspread/copyright packaging/nfpm.yaml
dpkg-query --showformat='${Conffiles}\n' --show logspread | grep -q /etc/logspread/daemon.yaml || { echo "conffiles not marked"; exit 1; }
/usr/bin/logspread daemon --config /etc/logspread/daemon.yaml --check-config
/usr/bin/logspread collect --config /etc/logspread/collector.yaml --check-config

echo "== installed: systemd-analyze verify"
out=$(systemd-analyze verify --man=no logspread-daemon.service logspread-collector.service logspread-shipper@www.service 2>&1) || {
	echo "$out"
	exit 1
}
if echo "$out" | grep -q logspread; then
	echo "$out"
	exit 1
fi

echo "== installed: logrotate --debug on the collector's example snippet"
if command -v logrotate >/dev/null 2>&1; then
	out=$(logrotate --debug --state /dev/null /usr/share/doc/logspread/examples/logrotate/logspread-collector 2>&1)
	if echo "$out" | grep -q 'error:'; then
		echo "$out"
		exit 1
	fi
fi

echo "== dpkg -i again (the upgrade path): an edited conffile is kept, the user stays"
echo "# edited by check-deb.sh" >>/etc/logspread/daemon.yaml
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$deb"
grep -q "edited by check-deb.sh" /etc/logspread/daemon.yaml || { echo "reinstall replaced an edited conffile"; exit 1; }
id logspread >/dev/null

echo "== dpkg -r"
dpkg -r logspread
[ ! -e /usr/bin/logspread ] || { echo "/usr/bin/logspread left after dpkg -r"; exit 1; }
getent passwd logspread >/dev/null || { echo "dpkg -r removed the logspread user"; exit 1; }
echo "package checked"
