#!/usr/bin/env bash
# Runs Tessel's whole test suite: installs what is missing (./setup.sh), then
# `bazel test --keep_going //...`, which builds every target, not only tests.
# Extra arguments go to `bazel test`.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --no-build
exec bazel test --keep_going //... "$@"
