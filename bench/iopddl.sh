#!/usr/bin/env bash
# The auto-sharding solver core on the IOPDDL contest's real XLA instances
# (../shared/iopddl, or IOPDDL_DIR): each within its contest time limit
# (scaled by --scale, e.g. 0.1 for a quick pass), one line per instance:
# feasible or not, total cost, time to the first feasible and to the final
# solution. The contest's best known costs are compared outside the project.
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
echo "$(nproc) cores; time limits scaled by $scale"
status=0
for id in A B C D G K L M N P Q R S T U V; do
  if [[ -n "$only" && ",$only," != *",$id,"* ]]; then continue; fi
  file="$dir/asplos-2025-iopddl-$id.json.gz"
  [[ -f "$file" ]] || { echo "$id: missing"; continue; }
  seconds=$(awk -v l="${limit[$id]}" -v s="$scale" 'BEGIN { print l * s }')
  gzip -dc "$file" | "$bin" --quiet --seconds "$seconds" || status=1
done
exit $status
