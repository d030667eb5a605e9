#!/usr/bin/env bash
# What embedding Tessel costs: compile time through tessel-compile (a
# process), the C++ API and the Python package; and per run, the Python
# package's calls against the C++ API's runBuffers loop on the same model
# from memory (the overhead target: < 50 us per run on the tiny MLP).
#
#   bench/embedding.sh [--iterations N]
#
# The Python side is the wheel ./setup.sh installs, installed here into a
# scratch folder (so the figures are those of what users get).
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=2000
while (($#)); do
  case "$1" in
    --iterations) iterations="$2"; shift 2 ;;
    *) echo "embedding.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
bazel build //tools:tessel-compile //bench:api_overhead //python:wheel >&2
scratch="$(mktemp -d -t tessel-embedding.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
/usr/bin/python3 -m pip install -q --no-deps --no-index --target "$scratch/site" \
  bazel-bin/python/tessel-0.1.0-cp311-cp311-linux_x86_64.whl >&2 2>/dev/null

value() { sed -n "s/^$1 //p"; }

for case in "mlp tests/models/mlp/model.onnx x 4x64 " \
            "mlp tests/models/mlp/model.onnx x 4x64 x=2" \
            "gpt2 tests/models/gpt2/model.onnx ids 2x16 x=2"; do
  read -r label model name shape mesh <<<"$case"
  mesh="${mesh:-}"
  # tessel-compile: the whole process, best of 5.
  best=""
  for _ in 1 2 3 4 5; do
    start=$(date +%s.%N)
    flags=(--input-shape "$name=$shape" -o "$scratch/m.tessel")
    if [[ -n "$mesh" ]]; then
      axis="${mesh%%=*}"
      spec="[\"$axis\""; for ((d = 1; d < $(tr -cd x <<<"$shape" | wc -c) + 1; ++d)); do spec+=", null"; done
      printf 'tensors { name: "%s" spec: %s }\n' "$name" "'$spec]'" >"$scratch/plan.txt"
      flags+=(--mesh "$mesh" --plan "$scratch/plan.txt")
    fi
    bazel-bin/tools/tessel-compile "$model" "${flags[@]}" >/dev/null 2>&1
    t=$(echo "$(date +%s.%N) - $start" | bc)
    if [[ -z "$best" ]] || (($(echo "$t < $best" | bc))); then best=$t; fi
  done
  cpp=$(bazel-bin/bench/api_overhead "$model" "$name" "$shape" "$mesh" "$iterations")
  py=$(PYTHONPATH="$scratch/site" /usr/bin/python3 bench/python_overhead.py \
    "$model" "$name" "$shape" "$mesh" "$iterations")
  run_cpp=$(value run_us <<<"$cpp")
  printf '%s %s on %s:\n' "$label" "$shape" "${mesh:-one device}"
  printf '  compile (s): tessel-compile %.3f (a process); first in a process / best of 5: C++ API %.3f / %.3f, Python %.3f / %.3f\n' \
    "$best" "$(value compile_first_seconds <<<"$cpp")" \
    "$(value compile_seconds <<<"$cpp")" \
    "$(value compile_first_seconds <<<"$py")" "$(value compile_seconds <<<"$py")"
  printf '  run (median us): C++ runBuffers %.1f' "$run_cpp"
  for key in run_dict_us run_call_us torch_call_us; do
    v=$(value "$key" <<<"$py")
    [[ -n "$v" ]] && printf ', %s %.1f (+%.1f)' "${key%_us}" "$v" "$(echo "$v - $run_cpp" | bc)"
  done
  printf '\n'
done
