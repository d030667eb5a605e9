//===- CountAllocations.h - Heap allocations in a window --------*- C++ -*-===//
//
// Counts the heap allocations every thread of the process makes between
// start() and stop(): the test binary linking CountAllocations.cpp replaces
// glibc's malloc family with one that counts and forwards to glibc. Each
// allocation is attributed by its call stack: to a library named in
// `libraries` (its shared object appears on the stack) or to the rest, our
// own code, whose first stacks are kept for the failure message.
//
// Not under AddressSanitizer, which replaces malloc itself: available()
// says whether counting works in this build.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_TESTS_UNIT_RUNTIME_COUNTALLOCATIONS_H
#define TESSEL_TESTS_UNIT_RUNTIME_COUNTALLOCATIONS_H

#include <cstdint>
#include <string>
#include <vector>

namespace tessel::testing {

struct Allocations {
  int64_t own = 0;
  /// Allocations made with a listed library on the stack.
  int64_t library = 0;
  /// Own allocations by call site, most first: the count and the stack
  /// of the first there, symbolised.
  std::vector<std::string> ownStacks;
};

bool countingAvailable();
/// Starts counting; `libraries` are substrings of shared-object paths
/// ("libdnnl").
void startCounting(std::vector<std::string> libraries);
Allocations stopCounting();

} // namespace tessel::testing

#endif // TESSEL_TESTS_UNIT_RUNTIME_COUNTALLOCATIONS_H
