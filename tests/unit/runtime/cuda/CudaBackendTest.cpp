//===- CudaBackendTest.cpp - The CUDA backend on real GPUs
//-----------------===//
//
// Built wherever CUDA is; skips with the reason on machines without a GPU
// (the development and CI machines). On a GPU machine: random partitioned
// programs on the cuda backend give the single-device numbers of the host
// backend (programs with more devices than GPUs are left out), and the
// element kernels compiled by nvcc agree with the same functions run by the
// host emulation.
//
//===----------------------------------------------------------------------===//

#include <cstring>
#include <iostream>

#include "runtime/cuda/CudaBackend.h"
#include "runtime/cuda/CudaDevices.h"
#include "runtime/cuda/HostEmulation.h"
#include "tests/random/RandomProgram.h"
#include "gtest/gtest.h"

namespace tessel::cuda {
namespace {

TEST(CudaBackendTest, WithoutAGpuTheBackendSaysSo) {
  absl::StatusOr<std::vector<CudaDeviceInfo>> gpus = listCudaDevices();
  if (gpus.ok())
    GTEST_SKIP() << "this machine has " << gpus->size() << " GPU(s)";
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      makeCudaBackend(cudaPluginApi(), 10);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(backend.status().message().find("no CUDA device available"),
            std::string::npos)
      << backend.status();
}

TEST(CudaBackendTest, RandomProgramsMatchTheSingleDevice) {
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      makeCudaBackend(cudaPluginApi(), 60);
  if (!backend.ok())
    GTEST_SKIP() << "needs a GPU: " << backend.status().message();
  mlir::MLIRContext context;
  int passed = 0, tooLarge = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::string program = random::generateProgram(seed);
    random::CaseResult result =
        random::runProgram(program, seed, context, backend->get());
    if (result.kind == random::CaseResult::Pass)
      ++passed;
    else if (result.detail.find("GPUs (one GPU per device") !=
             std::string::npos)
      ++tooLarge;
    else if (result.kind == random::CaseResult::Fail)
      ADD_FAILURE() << "seed " << seed << ": " << result.detail << "\n"
                    << program;
  }
  std::cout << passed << " random programs pass on the GPUs, " << tooLarge
            << " need more GPUs than this machine has\n";
}

TEST(CudaBackendTest, KernelsAgreeWithTheEmulation) {
  absl::StatusOr<std::unique_ptr<DeviceApi>> gpu =
      cudaPluginApi().makeDevice(0);
  if (!gpu.ok())
    GTEST_SKIP() << "needs a GPU: " << gpu.status().message();
  HostDeviceApi host(0);
  // A softmax over rows of 1000 f16 values, and a GEMM, on both.
  constexpr int64_t kRows = 64, kLength = 1000;
  std::vector<uint16_t> input(kRows * kLength);
  for (size_t i = 0; i < input.size(); ++i)
    input[i] = floatToHalf(static_cast<float>((i * 7919) % 101) / 13 - 3);
  auto run = [&](DeviceApi &api) {
    uint64_t bytes = input.size() * 2;
    absl::StatusOr<char *> memory = api.allocate(2 * bytes + 4096);
    EXPECT_TRUE(memory.ok()) << memory.status();
    char *in = *memory, *out = *memory + bytes, *params = *memory + 2 * bytes;
    EXPECT_TRUE(api.toDevice(in, input.data(), bytes).ok());
    RowParams p;
    p.inType = p.outType = DType::F16;
    p.length = kLength;
    p.in = in;
    p.out = out;
    EXPECT_TRUE(api.toDevice(params, &p, sizeof(p)).ok());
    EXPECT_TRUE(api.element(KernelKind::Softmax, &p, params, kRows).ok());
    EXPECT_TRUE(api.mark(0).ok());
    for (;;) {
      absl::StatusOr<int> pending = api.progress();
      EXPECT_TRUE(pending.ok()) << pending.status();
      if (!pending.ok() || *pending < 0)
        break;
    }
    std::vector<uint16_t> result(input.size());
    EXPECT_TRUE(api.toHost(result.data(), out, bytes).ok());
    api.free(*memory);
    return result;
  };
  std::vector<uint16_t> onGpu = run(**gpu), onHost = run(host);
  int64_t different = 0;
  for (size_t i = 0; i < onGpu.size(); ++i)
    different +=
        std::abs(halfToFloat(onGpu[i]) - halfToFloat(onHost[i])) > 1e-3f;
  EXPECT_EQ(different, 0);
}

} // namespace
} // namespace tessel::cuda
