#!/usr/bin/env bash
# bench/run.sh: logspread's end-to-end benchmark against zstd -1, rsyslog and syslog-ng.
#
#   bench/run.sh                                   # 4M lines, table on stdout
#   bench/run.sh --lines 400000                    # quicker
#   bench/run.sh --results bench/RESULTS.md        # regenerate bench/RESULTS.md
#   bench/run.sh --scenarios zstd,syslog-ng        # a subset
#
# Installs what it needs once: the zstd tool, and rsyslog and syslog-ng-core from
# Debian's packages unpacked under bench/out/peers (the two conflict as packages, so
# neither is installed; only their library dependencies are). It never touches the
# system's logging service. All traffic stays on 127.0.0.1. Not part of CI.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=bench/out
PEERS=$OUT/peers
mkdir -p "$PEERS/debs"

updated=
apt_update_once() {
	if [ -z "$updated" ]; then
		apt-get update -qq
		updated=1
	fi
}

# Library dependencies of rsyslog and syslog-ng-core (Debian 12), and the zstd tool.
LIBS="libestr0 libfastjson4 liblognorm5 libuuid1 libzstd1 zlib1g libsystemd0
      libglib2.0-0 libivykis0 libjson-c5 libnet1 libpcre3 libwrap0 libcap2 libssl3 zstd gzip"
missing=
for p in $LIBS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "installing:$missing" >&2
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2; then
		apt_update_once
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
	fi
fi

# The peers themselves: download and unpack, never install.
for pkg in rsyslog syslog-ng-core; do
	if [ ! -e "$PEERS/$pkg.unpacked" ]; then
		rm -f "$PEERS/debs/${pkg}_"*.deb
		if ! (cd "$PEERS/debs" && apt-get download -qq "$pkg" 2>/dev/null); then
			apt_update_once
			(cd "$PEERS/debs" && apt-get download -qq "$pkg")
		fi
		dpkg -x "$PEERS/debs/${pkg}_"*.deb "$PEERS/root"
		touch "$PEERS/$pkg.unpacked"
	fi
done

go build -o "$OUT/logbench" ./bench/cmd/logbench
if [ -x "$OUT/logspread" ] || [ -d cmd/logspread ]; then
	if ! go build -o "$OUT/logspread" ./cmd/logspread; then
		echo "run.sh: WARNING: building logspread failed; an older $OUT/logspread (if any) is measured" >&2
	fi
fi
LOGBENCH_CMD="bench/run.sh $*" exec "$OUT/logbench" --out "$OUT" --peers "$PEERS/root" --logspread "$OUT/logspread" "$@"
