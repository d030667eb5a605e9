#!/bin/sh
echo "bazel coverage is not supported in Tessel's offline build" >&2
exit 1
