#!/usr/bin/env bash
# Compares (--check) or copies (--update) generated reference pages against the
# committed ones under docs/reference/. Arguments: pairs of
# <generated file> <committed page, workspace-relative>.
set -euo pipefail
mode="$1"
shift
stale=0
while (($#)); do
  generated="$1" page="$2"
  shift 2
  if [[ "$mode" == "--update" ]]; then
    cp "$generated" "$BUILD_WORKSPACE_DIRECTORY/$page"
    chmod 644 "$BUILD_WORKSPACE_DIRECTORY/$page"
    echo "updated $page"
  elif ! diff -u "$page" "$generated"; then
    echo "$page is stale: run 'bazel run //docs:update_reference'" >&2
    stale=1
  fi
done
exit "$stale"
