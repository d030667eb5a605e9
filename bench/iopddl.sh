#!/usr/bin/env bash
# The auto-sharding solver core on the IOPDDL contest's real XLA instances
# (../shared/iopddl, or IOPDDL_DIR): each within its contest time limit
# (scaled by --scale, e.g. 0.1 for a quick pass), one line per instance:
# feasible or not, total cost, the lower bound and gap, the times to the
# first feasible solution, to one within 1.10x of the final cost and to the
# final one; then the cost against the contest's best and the bound.
#   bench/iopddl.sh [--scale 1.0] [--only A,B,...]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
dir="${IOPDDL_DIR:-../shared/iopddl}"
scale=1.0
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "usage: bench/iopddl.sh [--scale 1.0] [--only A,B,...]" >&2; exit 2 ;;
  esac
done
[[ -d "$dir" ]] || { echo "bench/iopddl.sh: no instances in $dir (set IOPDDL_DIR)" >&2; exit 1; }
bin="$(opt_bazel_bin //bench:iopddl)/bench/iopddl"
# Time limits (seconds) from the instances' README.
declare -A limit=([A]=60 [B]=60 [C]=60 [D]=60 [G]=120 [K]=180 [L]=180 [M]=180
                  [N]=180 [P]=240 [Q]=240 [R]=240 [S]=240 [T]=240 [U]=300 [V]=300)
# The best cost any team reached in the contest's final evaluation (the
# least per instance without a forbidden choice, i.e. below 10^18), from
# asplos-contest/2025, misc/iopddl_final_results.csv.
declare -A best=([A]=6548641531 [B]=532843 [C]=84102445260 [D]=313613524736
                 [G]=217039 [K]=2274276676 [L]=1970993742 [M]=49928460991
                 [N]=202739586553 [P]=662197407330 [Q]=526776842042
                 [R]=371899551572 [S]=1534613444 [T]=682895254913
                 [U]=2569342178 [V]=1632051)
echo "$(nproc) cores; time limits scaled by $scale"
summary=""
status=0
for id in A B C D G K L M N P Q R S T U V; do
  if [[ -n "$only" && ",$only," != *",$id,"* ]]; then continue; fi
  file="$dir/asplos-2025-iopddl-$id.json.gz"
  [[ -f "$file" ]] || { echo "$id: missing"; continue; }
  seconds=$(awk -v l="${limit[$id]}" -v s="$scale" 'BEGIN { print l * s }')
  line="$(gzip -dc "$file" | "$bin" --quiet --seconds "$seconds")" || status=1
  echo "$line"
  summary+="$(awk -v id="$id" -v best="${best[$id]}" '{
      for (i = 1; i < NF; ++i) { if ($i == "cost") c = $(i + 1); if ($i == "bound") b = $(i + 1) }
      printf "%s  cost / contest best %6.3fx  bound / contest best %6.3f\n", id, c / best, (b == "-" ? 0 : b / best)
    }' <<<"$line")"$'\n'
done
echo "$summary" | awk 'NF { print; r = $6 + 0; n++; lg += log(r); if (r <= 1.10) k++ }
  END { if (n) printf "%d instances: geometric mean %.2fx the contest best, %d within 1.10x\n", n, exp(lg / n), k }'
exit $status
