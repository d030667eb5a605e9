//===- FuzzCommon.h - What Tessel's fuzz targets share ----------*- C++ -*-===//
//
// Each fuzz target defines LLVMFuzzerTestOneInput. Built with
// --config=fuzz (clang, libFuzzer, AddressSanitizer, UBSan) it is a
// libFuzzer binary (bench/fuzz.sh runs them); in every other build it links
// ReplayMain.cpp instead and replays its seed corpus and the regression
// inputs of earlier findings as a test.
//
// A finding is a crash, a sanitizer report, a hang or a leak, or a broken
// property a target checks (fuzzTrap: e.g. an import that succeeds must
// verify). Errors the code reports as absl::Status or MLIR diagnostics are
// the expected outcome of bad input, not findings.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_TESTS_FUZZ_FUZZCOMMON_H
#define TESSEL_TESTS_FUZZ_FUZZCOMMON_H

#include <cstdio>
#include <cstdlib>

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

namespace tessel::fuzz {

/// A broken property: print why and stop the way a sanitizer would.
[[noreturn]] inline void fuzzTrap(const char *why) {
  std::fprintf(stderr, "fuzz: property broken: %s\n", why);
  std::fflush(stderr);
  __builtin_trap();
}

/// A context with Tessel's dialects, no threads, and diagnostics dropped
/// (bad input is expected to be diagnosed; the messages are noise here).
std::unique_ptr<mlir::MLIRContext> makeContext();

} // namespace tessel::fuzz

#endif // TESSEL_TESTS_FUZZ_FUZZCOMMON_H
