#!/usr/bin/env bash
# Fuzzes Tessel's readers of untrusted input with libFuzzer (clang-22,
# AddressSanitizer + LeakSanitizer + UBSan), each from a seed corpus made
# from tests/models:
#
#   bench/fuzz.sh [--minutes N | --seconds S | --runs R] [--jobs J] [target...]
#
# --runs R: R inputs per target from a fixed seed instead of a time: the
# same inputs on every machine, for CI (a finding there is a bug, never
# luck). Targets (tests/fuzz): onnx_importer_fuzzer, plan_fuzzer,
# executable_fuzzer, parameter_file_fuzzer (default: all). Each runs N
# minutes (default 10), J at a time (default 2: this machine's cores). A
# target fails on a crash, a sanitizer report, a leak, a hang (an input
# taking over 20 s) or a property it checks; the input that did so is kept
# in $TESSEL_FUZZ_DIR/<target>/findings/, to be added to
# tests/fuzz/regressions/<kind>/ once fixed. Prints one line per target:
# executions, corpus size, findings. Exits non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=600 runs="" jobs=2 targets=()
while (($#)); do
  case "$1" in
    --minutes) seconds=$(($2 * 60)); shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ((${#targets[@]} == 0)); then
  targets=(onnx_importer_fuzzer plan_fuzzer executable_fuzzer parameter_file_fuzzer)
fi
declare -A kind=([onnx_importer_fuzzer]=onnx [plan_fuzzer]=plan
  [executable_fuzzer]=executable [parameter_file_fuzzer]=params)

work="${TESSEL_FUZZ_DIR:-/tmp/tessel-fuzz}"
mkdir -p "$work"
./setup.sh --no-build >&2
echo "fuzz: building the targets with --config=fuzz and the seed corpus" >&2
labels=()
for target in "${targets[@]}"; do
  if [[ -z "${kind[$target]:-}" ]]; then
    echo "fuzz: unknown target '$target'" >&2
    exit 2
  fi
  labels+=("//tests/fuzz:$target")
done
bazel build //tools:tessel-compile >&2 || exit 1
compile="$(bazel info bazel-bin 2>/dev/null)/tools/tessel-compile"
cp "$compile" "$work/tessel-compile"
bazel build --config=fuzz "${labels[@]}" >&2 || exit 1
bin="$(bazel info --config=fuzz bazel-bin 2>/dev/null)"
rm -rf "$work/seeds"
tests/fuzz/make_corpus.sh "$work/tessel-compile" tests/models "$work/seeds"
# Back to the plain configuration's symlinks for whoever builds next.
bazel build --nobuild //tools:tessel-compile >/dev/null 2>&1

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export LSAN_OPTIONS="suppressions=$PWD/bazel/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run() { # target
  local target="$1" dir="$work/$1"
  # A counted run starts from the seeds alone (same inputs everywhere); a
  # timed one goes on from the corpus earlier runs grew.
  if [[ -n "$runs" ]]; then
    rm -rf "$dir/corpus"
  fi
  mkdir -p "$dir/corpus" "$dir/findings"
  cp "$work/seeds/${kind[$target]}"/* "$dir/corpus/" 2>/dev/null
  cp tests/fuzz/regressions/"${kind[$target]}"/* "$dir/corpus/" 2>/dev/null
  cp "$bin/tests/fuzz/$target" "$dir/$target"
  local limit=(-max_total_time="$seconds")
  if [[ -n "$runs" ]]; then
    limit=(-runs="$runs" -seed=1)
  fi
  (cd "$dir" && "./$target" corpus "${limit[@]}" \
    -timeout=20 -rss_limit_mb=4096 -malloc_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix=findings/ >"log.txt" 2>&1)
  echo $? >"$dir/status"
}

for target in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
  echo "fuzz: $target for ${runs:+$runs runs}${runs:-$seconds s}" >&2
  rm -rf "$work/$target/findings"
  run "$target" &
done
wait

failed=0
printf '%-24s %12s %8s %8s  %s\n' target executions corpus findings status
for target in "${targets[@]}"; do
  dir="$work/$target"
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log.txt" | grep -o '[0-9]*$' | tail -1)"
  files="$(find "$dir/corpus" -type f | wc -l)"
  findings="$(find "$dir/findings" -type f | wc -l)"
  status="$(cat "$dir/status")"
  verdict=ok
  if [[ "$status" != 0 || "$findings" != 0 ]]; then
    verdict="FINDING (see $dir/log.txt)"
    failed=1
  fi
  printf '%-24s %12s %8s %8s  %s\n' "$target" "${execs:-?}" "$files" "$findings" "$verdict"
done
exit $failed
