#!/usr/bin/env bash
# Builds the logspread packages with nfpm: the binary, the three systemd units, the
# sample configurations (conffiles under /etc/logspread), the collector's logrotate
# snippet, and the scripts that create the system user.
#
#   bash packaging/build.sh            # .deb and .rpm
#   bash packaging/build.sh deb        # one format
#   VERSION=1.2.3 bash packaging/build.sh
#
# Output: dist/logspread_VERSION_ARCH.deb and dist/logspread-VERSION-1.ARCH.rpm. VERSION
# defaults to the git tag (v1.2.3 gives 1.2.3), else 0.0.0~gitDATE.COMMIT. nfpm is
# installed with `go install` at the pinned version if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
nfpm_version=v2.45.0
formats=("$@")
[ ${#formats[@]} -gt 0 ] || formats=(deb rpm)

gobin=$(go env GOBIN)
gobin=${gobin:-$(go env GOPATH)/bin}
nfpm="$gobin/nfpm"
if ! go version -m "$nfpm" 2>/dev/null | grep -qE "^\s+mod\s+github.com/goreleaser/nfpm/v2\s+$nfpm_version\s"; then
	echo "installing nfpm $nfpm_version"
	go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version"
fi

if [ -z "${VERSION:-}" ]; then
	if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
		VERSION=${tag#v}
	elif commit=$(git rev-parse --short=7 HEAD 2>/dev/null); then
		VERSION=0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d).$commit
	else
		VERSION=0.0.0~dev
	fi
fi
export VERSION
export GOARCH=${GOARCH:-$(go env GOARCH)}

stage=dist/stage
rm -rf "$stage"
mkdir -p "$stage"
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$stage/logspread" ./cmd/logspread
# The units of the repository run /usr/local/bin/logspread (a build from source); the
# package installs /usr/bin/logspread.
for u in systemd/*.service; do
	sed 's#/usr/local/bin/logspread#/usr/bin/logspread#g' "$u" >"$stage/$(basename "$u")"
done

# The metadata nobody has decided yet (see the MAINTAINERS MUST FILL IN notes of
# nfpm.yaml) is built as the named placeholders it is; say so.
if grep -q '^license: NOASSERTION' packaging/nfpm.yaml || grep -q '^maintainer: UNSET' packaging/nfpm.yaml; then
	echo "note: packaging/nfpm.yaml has no license (NOASSERTION) and no maintainer yet: the packages say so; fill them in before publishing" >&2
fi

for f in "${formats[@]}"; do
	"$nfpm" package --config packaging/nfpm.yaml --packager "$f" --target dist/
done
rm -rf "$stage"
ls -l dist/logspread[_-]*
