#!/bin/sh
# Installs what bench/run.sh needs, idempotently: the peers (restic,
# borgbackup) from Debian packages, GNU time (peak RSS for manual runs),
# e2fsprogs (mkfs.ext4 -d builds the disk-image corpus) and diffutils.
# dpkg-query first; apt-get only for what is missing.
# kopia is not a Debian package: point KOPIA at a binary to include it.
set -eu
want="restic borgbackup time e2fsprogs diffutils coreutils"
missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "bench/deps.sh: installing$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
for b in restic borg mkfs.ext4; do
	command -v "$b" >/dev/null || { echo "bench/deps.sh: $b not found after install" >&2; exit 1; }
done
if [ -n "${KOPIA:-}" ]; then
	[ -x "$KOPIA" ] || { echo "bench/deps.sh: KOPIA=$KOPIA is not executable" >&2; exit 1; }
fi
echo "bench/deps.sh: restic $(restic version | awk '{print $2}'), $(borg --version), kopia: ${KOPIA:-not included}"
