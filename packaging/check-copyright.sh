#!/usr/bin/env bash
# Checks a Debian copyright file in the machine-readable format (DEP-5,
# https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/): its header
# paragraph names the format and the upstream, a "Files: *" paragraph has Copyright and
# License fields, and its license is the one nfpm.yaml gives the packages.
#
#   bash packaging/check-copyright.sh COPYRIGHT_FILE NFPM_YAML
set -euo pipefail
file=$1 nfpm=$2
[ -f "$file" ] || { echo "no copyright file at $file"; exit 1; }
fail() { echo "$file: $*"; exit 1; }

head -n1 "$file" | grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' ||
	fail "the first line is not 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/'"
grep -qx 'Upstream-Name: logspread' "$file" || fail "no 'Upstream-Name: logspread'"

# The "Files: *" paragraph: from its line to the next blank line.
para=$(awk '/^Files: \*$/{p=1} p&&/^$/{exit} p' "$file")
[ -n "$para" ] || fail "no 'Files: *' paragraph"
echo "$para" | grep -q '^Copyright: .' || fail "the 'Files: *' paragraph has no Copyright field"
license=$(echo "$para" | sed -n 's/^License: //p')
[ -n "$license" ] || fail "the 'Files: *' paragraph has no License field"
want=$(sed -n 's/^license: *//p' "$nfpm")
[ "$license" = "$want" ] || fail "License '$license', but $nfpm says license: $want"
# A field's continuation lines start with a space; a line that starts with neither a
# field name nor a space breaks the format.
bad=$(grep -vnE '^$|^ |^[A-Za-z][A-Za-z0-9-]*: ?' "$file" || true)
[ -z "$bad" ] || fail "lines that are neither fields nor continuations: $bad"
echo "$file: machine-readable copyright, License: $license"
