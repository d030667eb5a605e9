//===- RandomPartitionTest.cpp - A fixed set of random programs -----------===//
//
// Seeds 1..kCases: every program gives the single-device numbers on its
// mesh, or compilation says it is not supported. A failure prints the seed
// and the program; `bench/partition_soak.sh --seed N --cases 1 --print`
// reproduces it.
//
//===----------------------------------------------------------------------===//

#include <iostream>
#include <map>

#include "runtime/cuda/HostEmulation.h"
#include "tests/random/RandomProgram.h"
#include "gtest/gtest.h"

namespace tessel::random {
namespace {

constexpr uint64_t kCases = 500;

TEST(RandomPartition, ProgramsMatchTheSingleDevice) {
  mlir::MLIRContext context;
  std::map<std::string, int> unsupported;
  int passed = 0, communicating = 0;
  std::map<std::string, int> exercising;
  for (uint64_t seed = 1; seed <= kCases; ++seed) {
    std::string program = generateProgram(seed);
    CaseResult result = runProgram(program, seed, context);
    if (result.kind == CaseResult::Pass) {
      ++passed;
      communicating += !result.collectives.empty();
      for (const auto &[kind, count] : result.collectives)
        ++exercising[kind];
    } else if (result.kind == CaseResult::Unsupported)
      ++unsupported[result.detail.substr(0, result.detail.find(';'))];
    else
      ADD_FAILURE() << "seed " << seed << ": " << result.detail << "\n"
                    << program;
  }
  std::cout << kCases << " random programs: " << passed << " pass ("
            << communicating << " of them with collectives)\n";
  for (const auto &[kind, count] : exercising)
    std::cout << "  " << count << " with " << kind << "\n";
  for (const auto &[reason, count] : unsupported)
    std::cout << "  " << count << " not supported: " << reason << "\n";
}

// The CUDA backend's plans, kernels and NCCL lowering (on the host
// emulation, DeviceOps.h being the code nvcc compiles) give the same
// numbers for the same programs: every collective kind, uneven pieces,
// halos; every third program with its collectives overlapped (on the
// communication stream, 1 or 2 in flight).
TEST(RandomPartition, ProgramsMatchOnTheCudaBackendEmulated) {
  mlir::MLIRContext context;
  // Odd seeds with convolutions as cuDNN takes them, even ones as im2col
  // and GEMMs.
  std::unique_ptr<Backend> withCudnn = cuda::makeEmulationBackend(60, true);
  std::unique_ptr<Backend> withGemms = cuda::makeEmulationBackend(60, false);
  int passed = 0;
  std::map<std::string, int> exercising;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    std::string program = generateProgram(seed);
    CaseResult result = runProgram(program, seed, context,
                                   seed % 2 ? withCudnn.get() : withGemms.get(),
                                   seed % 3 == 0 ? 1 + seed % 2 : 0);
    if (result.kind == CaseResult::Pass) {
      ++passed;
      for (const auto &[kind, count] : result.collectives)
        ++exercising[kind];
    } else if (result.kind == CaseResult::Fail) {
      ADD_FAILURE() << "seed " << seed << ": " << result.detail << "\n"
                    << program;
    }
  }
  std::cout << "300 random programs on the emulated cuda backend: " << passed
            << " pass\n";
  for (const auto &[kind, count] : exercising)
    std::cout << "  " << count << " with " << kind << "\n";
}

// Auto-sharded: the search's plans for the same programs (their
// annotations as constraints) compile and give the single-device numbers.
TEST(RandomPartition, AutoShardedProgramsMatchTheSingleDevice) {
  mlir::MLIRContext context;
  int passed = 0, unsupported = 0;
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    std::string program = generateProgram(seed);
    CaseResult result = runProgramAuto(program, seed, context);
    if (result.kind == CaseResult::Pass)
      ++passed;
    else if (result.kind == CaseResult::Unsupported)
      ++unsupported;
    else
      ADD_FAILURE() << "seed " << seed << ": " << result.detail << "\n"
                    << program;
  }
  std::cout << "150 auto-sharded random programs: " << passed << " pass, "
            << unsupported << " with annotations no strategy gives\n";
}

// The generator is a function of its seed.
TEST(RandomPartition, ProgramsAreReproducible) {
  EXPECT_EQ(generateProgram(7), generateProgram(7));
  EXPECT_NE(generateProgram(7), generateProgram(8));
}

} // namespace
} // namespace tessel::random
