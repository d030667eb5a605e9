//===- partition_soak.cpp - Many random programs against one device -------===//
//
// The soak behind tests/random: programs from seeds [seed, seed + cases),
// each compiled for its mesh and checked against the single-device
// program. Prints a summary, and the seed and program of every failure;
// exits non-zero if any failed.
//
//   partition_soak [--seed N] [--cases N] [--print] [--auto]
//
// With --auto the shardings come from the auto-shard search (the programs'
// annotations as constraints).
//
//===----------------------------------------------------------------------===//

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>

#include "tests/random/RandomProgram.h"

int main(int argc, char **argv) {
  uint64_t seed = 1, cases = 2000;
  bool print = false, autoShard = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--cases" && i + 1 < argc)
      cases = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--print")
      print = true;
    else if (arg == "--auto")
      autoShard = true;
    else {
      std::cerr << "usage: partition_soak [--seed N] [--cases N] [--print] "
                   "[--auto]\n";
      return 2;
    }
  }
  mlir::MLIRContext context;
  std::map<std::string, int> unsupported;
  int passed = 0, failed = 0, communicating = 0;
  std::map<std::string, int> exercising;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t s = seed; s < seed + cases; ++s) {
    std::string program = tessel::random::generateProgram(s);
    if (print)
      std::cout << "// seed " << s << "\n" << program;
    tessel::random::CaseResult result =
        autoShard ? tessel::random::runProgramAuto(program, s, context)
                  : tessel::random::runProgram(program, s, context);
    switch (result.kind) {
    case tessel::random::CaseResult::Pass:
      ++passed;
      communicating += !result.collectives.empty();
      for (const auto &[kind, count] : result.collectives)
        ++exercising[kind];
      break;
    case tessel::random::CaseResult::Unsupported:
      ++unsupported[result.detail.substr(0, result.detail.find(';'))];
      break;
    case tessel::random::CaseResult::Fail:
      ++failed;
      std::cout << "FAIL seed " << s << ": " << result.detail << "\n";
      if (!print)
        std::cout << program;
      break;
    }
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::cout << cases << " random programs from seed " << seed << " in "
            << seconds << " s: " << passed << " pass (" << communicating
            << " with collectives), " << failed << " fail\n";
  for (const auto &[kind, count] : exercising)
    std::cout << "  " << count << " with " << kind << "\n";
  for (const auto &[reason, count] : unsupported)
    std::cout << "  " << count << " not supported: " << reason << "\n";
  return failed ? 1 : 0;
}
