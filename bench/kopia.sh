#!/bin/sh
# Builds kopia (not a Debian package) from the Go module proxy into
# bench/_work/bin/kopia, for measurement only, as the project's notes did:
# `go mod download` the module, then `go build` inside the directory it
# reports (`go install pkg@version` is refused for this module here).
#   bench/kopia.sh [version]     # default v0.21.1
#   KOPIA=bench/_work/bin/kopia bench/run.sh -quick
set -eu
cd "$(dirname "$0")/.."
ver=${1:-v0.21.1}
out=${BENCH_WORK:-$(pwd)/bench/_work}/bin/kopia
GO=${GO:-go}
if [ -x "$out" ] && "$out" --version 2>/dev/null | grep -q "${ver#v}"; then
	echo "$out"; exit 0
fi
dir=$($GO mod download -json "github.com/kopia/kopia@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "kopia.sh: go mod download failed" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
(cd "$dir" && CGO_ENABLED=0 $GO build -trimpath -ldflags "-X github.com/kopia/kopia/repo.BuildVersion=${ver#v}" -o "$out" .)
"$out" --version >&2
echo "$out"
