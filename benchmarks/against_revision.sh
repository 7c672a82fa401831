#!/usr/bin/env bash
# The per-flow benchmark of an earlier revision and of the working tree,
# alternating, so that a change's gain is measured side by side in one run
# (absolute times on a shared machine drift by a third from hour to hour, and
# by half within minutes).
#
#   bash benchmarks/against_revision.sh REVISION [ROUNDS]
#
# Both sides run this tree's benchmarks/per_flow.py, so they time the same
# flows; each imports its own authdiag (PYTHONPATH), in this tree's venv. Each
# round runs both sides once, in alternating order, briefly (1,000 flows of
# each kind), so that the machine changes speed less within a pair; the gain
# printed at the end is the median over rounds of earlier / now.
set -euo pipefail

revision=${1:?usage: against_revision.sh REVISION [ROUNDS]}
rounds=${2:-7}
here=$(cd "$(dirname "$0")/.." && pwd)
python="$here/.venv/bin/python"
earlier=$(mktemp -d)
medians=$(mktemp)
trap 'git -C "$here" worktree remove --force "$earlier" >/dev/null 2>&1 || true; rm -rf "$earlier" "$medians"' EXIT

git -C "$here" worktree add --detach --force "$earlier" "$revision" >/dev/null 2>&1
cp "$here/benchmarks/per_flow.py" "$earlier/benchmarks/per_flow.py"

echo "\$ bash benchmarks/against_revision.sh $revision $rounds"
echo "earlier: $(git -C "$earlier" log -1 --format='%h %s')"
echo "now:     $(git -C "$here" log -1 --format='%h %s') (and any uncommitted changes)"
for round in $(seq "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order="earlier now"; else order="now earlier"; fi
  for side in $order; do
    if [ "$side" = earlier ]; then tree=$earlier; else tree=$here; fi
    echo "== $side, round $round"
    side_out=$(cd "$tree" && PYTHONPATH="$tree/addon" "$python" benchmarks/per_flow.py \
      --flows 1000 --rounds 1 | grep median)
    echo "$side_out"
    echo "$side_out" | sed "s/^/$round $side|/" >>"$medians"
  done
done

"$python" - "$medians" <<'EOF'
import re
import statistics
import sys
from collections import defaultdict

# "ROUND SIDE|KIND median   12.3 µs ..." -> per kind and round, each side's median
times: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
for line in open(sys.argv[1], encoding="utf-8"):
    where, _, result = line.partition("|")
    found = re.match(r"(.+?)\s+median\s+([\d.]+) µs", result)
    if found:
        round_number, side = where.split()
        times[found[1]][round_number][side] = float(found[2])
print("\nearlier / now, per round, then the median (above 1: now is faster)")
for kind, by_round in times.items():
    ratios = [t["earlier"] / t["now"] for t in by_round.values() if len(t) == 2]
    shown = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"{kind:25s} {statistics.median(ratios):.2f}x  ({shown})")
EOF
