#!/usr/bin/env bash
# The C API as a user gets it: install.sh puts the header, libtessel.so and
# tessel.pc under a prefix (./setup.sh does the same at /usr/local), then
# `cc program.c $(pkg-config --cflags --libs tessel)` builds the program,
# which compiles the MLP for 4 host devices and runs it against torch.
set -euo pipefail
library="$1" header="$2" install="$3" program="$4" models="$5"
prefix="$TEST_TMPDIR/prefix"
"$install" --prefix "$prefix" --library "$library" --header "$header"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --exists tessel
# A library built under --config=asan or ubsan needs the program built with
# the same sanitizer (its runtime must come first), as a user's would.
sanitize=()
needed="$(readelf -d "$library")"
if grep -q 'libasan' <<<"$needed"; then sanitize+=(-fsanitize=address); fi
if grep -q 'libubsan' <<<"$needed"; then sanitize+=(-fsanitize=undefined); fi
cc -std=c11 -Wall -Wextra -Werror "${sanitize[@]}" "$program" \
  -o "$TEST_TMPDIR/program" $(pkg-config --cflags --libs tessel) -lm
# Bounded: a hang is a failure with a message, not the suite's timeout.
timeout --kill-after=10 270 "$TEST_TMPDIR/program" "$models/mlp/model.onnx" \
  "$models/mlp/x.npy" "$models/mlp/output.npy" "$TEST_TMPDIR"
"$install" --prefix "$prefix" --uninstall
test ! -e "$prefix/lib/libtessel.so" && test ! -e "$prefix/lib/pkgconfig/tessel.pc"
