#!/bin/sh
# The backup benchmark: keep (engine in-process, bench/cmd/keepbench) against
# restic and borg (and kopia if $KOPIA names a binary) on deterministic
# corpora, in one run with the tools alternated. See bench/README.md.
#
#   bench/run.sh -quick            # ~100 MiB fs, ~256 MiB vm: a few minutes
#   bench/run.sh                   # 1.75 GiB fs, 2 GiB vm (the notes' scale)
#   bench/run.sh -reps 3           # medians of three
#   bench/run.sh -fs-size 200MiB -vm-size 512MiB -corpora fs
#
# Environment:
#   KEEP_REV=<git rev>   build keepbench from that commit (git archive, read
#                        only) instead of the working tree, e.g. KEEP_REV=HEAD
#                        while the engine is being edited
#   KOPIA=/path/to/kopia include kopia
#   BENCH_WORK=DIR       scratch (default bench/_work; needs ~25 GB at full scale)
#   BENCH_SKIP_DEPS=1    do not run bench/deps.sh
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${BENCH_WORK:-$ROOT/bench/_work}
GO=${GO:-go}
mkdir -p "$WORK/bin"

[ -n "${BENCH_SKIP_DEPS:-}" ] || bench/deps.sh

GOBUILD="env CGO_ENABLED=0 $GO build -trimpath -buildvcs=false"
if [ -n "${KEEP_REV:-}" ]; then
	rev=$(git rev-parse --verify "$KEEP_REV^{commit}")
	src="$WORK/src-$rev"
	if [ ! -f "$src/go.mod" ]; then
		for old in "$WORK"/src-*; do [ -e "$old" ] && rm -rf "$old"; done # keep one export
		rm -rf "$src.tmp" && mkdir -p "$src.tmp"
		git archive "$rev" | tar -x -C "$src.tmp"
		mv "$src.tmp" "$src"
	fi
	# The engine from $rev, the benchmark code from this tree.
	rm -rf "$src/bench" && mkdir -p "$src/bench"
	cp -a "$ROOT/bench/cmd" "$ROOT/bench/corpus" "$src/bench/"
	echo "run.sh: keepbench from commit $rev"
	keep_source="commit $rev (git archive)"
	(cd "$src" && $GOBUILD -o "$WORK/bin/keepbench" ./bench/cmd/keepbench)
	(cd "$src" && $GOBUILD -o "$WORK/bin/benchrun" ./bench/cmd/benchrun)
	(cd "$src" && $GOBUILD -o "$WORK/bin/keep" ./cmd/keep && $GOBUILD -o "$WORK/bin/keep-agent" ./cmd/keep-agent)
else
	keep_source="working tree at $(git rev-parse HEAD 2>/dev/null || echo unknown)"
	if [ -n "$(GIT_OPTIONAL_LOCKS=0 git status --porcelain --untracked-files=no -- engine 2>/dev/null)" ]; then
		keep_source="$keep_source with uncommitted engine changes"
	fi
	$GOBUILD -o "$WORK/bin/keepbench" ./bench/cmd/keepbench
	$GOBUILD -o "$WORK/bin/benchrun" ./bench/cmd/benchrun
	$GOBUILD -o "$WORK/bin/keep" ./cmd/keep
	$GOBUILD -o "$WORK/bin/keep-agent" ./cmd/keep-agent
fi
exec "$WORK/bin/benchrun" -keepbench "$WORK/bin/keepbench" -keep-source "$keep_source" \
	-keep-bin "$WORK/bin/keep" -agent-bin "$WORK/bin/keep-agent" \
	-work "$WORK" -results "$ROOT/bench/results" "$@"
