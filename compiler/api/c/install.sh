#!/usr/bin/env bash
# Installs the C API: the header as <prefix>/include/tessel/tessel.h, the
# library as <prefix>/lib/libtessel.so.1 (and libtessel.so), and a
# pkg-config file, so that
#   cc prog.c $(pkg-config --cflags --libs tessel)
# builds a program that says #include <tessel/tessel.h>.
#
#   install.sh --prefix DIR --library libtessel.so --header tessel.h
#   install.sh --prefix DIR --uninstall
#
# ./setup.sh runs it with --prefix /usr/local; the C API's test with a
# temporary prefix.
set -euo pipefail

prefix="" library="" header="" uninstall=0
while (($#)); do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --library) library="$2"; shift 2 ;;
    --header) header="$2"; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    *) echo "install.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [[ -z "$prefix" ]]; then
  echo "install.sh: --prefix is required" >&2; exit 2
fi

if ((uninstall)); then
  rm -f "$prefix/include/tessel/tessel.h" "$prefix/lib/libtessel.so.1" \
    "$prefix/lib/libtessel.so" "$prefix/lib/pkgconfig/tessel.pc"
  rmdir "$prefix/include/tessel" 2>/dev/null || true
  exit 0
fi
if [[ ! -f "$library" || ! -f "$header" ]]; then
  echo "install.sh: give --library (libtessel.so) and --header (tessel.h)" >&2
  exit 2
fi

version=$(sed -n 's/^#define TESSEL_API_VERSION_MAJOR \([0-9]*\)$/\1/p' "$header").$(
  sed -n 's/^#define TESSEL_API_VERSION_MINOR \([0-9]*\)$/\1/p' "$header")
mkdir -p "$prefix/include/tessel" "$prefix/lib/pkgconfig"
install -m 644 "$header" "$prefix/include/tessel/tessel.h"
install -m 755 "$library" "$prefix/lib/libtessel.so.1"
ln -sf libtessel.so.1 "$prefix/lib/libtessel.so"
cat > "$prefix/lib/pkgconfig/tessel.pc" <<PC
prefix=$prefix
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: tessel
Description: Tessel: compile a single-device model for a mesh of devices and run it
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -ltessel
PC
