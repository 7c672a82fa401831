#!/usr/bin/env bash
# The per-flow benchmark of an earlier revision and of the working tree,
# alternating, so that a change's gain is measured side by side in one run
# (absolute times on a shared machine drift by a third from hour to hour).
#
#   bash benchmarks/against_revision.sh REVISION [ROUNDS]
#
# Both sides run this tree's benchmarks/per_flow.py, so they time the same
# flows; each imports its own authdiag (PYTHONPATH), in this tree's venv.
set -euo pipefail

revision=${1:?usage: against_revision.sh REVISION [ROUNDS]}
rounds=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
python="$here/.venv/bin/python"
earlier=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$earlier" >/dev/null 2>&1 || true; rm -rf "$earlier"' EXIT

git -C "$here" worktree add --detach --force "$earlier" "$revision" >/dev/null 2>&1
cp "$here/benchmarks/per_flow.py" "$earlier/benchmarks/per_flow.py"

echo "\$ bash benchmarks/against_revision.sh $revision $rounds"
echo "earlier: $(git -C "$earlier" log -1 --format='%h %s')"
echo "now:     $(git -C "$here" log -1 --format='%h %s') (and any uncommitted changes)"
for round in $(seq "$rounds"); do
  for side in earlier now; do
    if [ "$side" = earlier ]; then tree=$earlier; else tree=$here; fi
    echo "== $side, round $round"
    (cd "$tree" && PYTHONPATH="$tree/addon" "$python" benchmarks/per_flow.py \
      --flows 1000 --rounds 2 | grep median)
  done
done
