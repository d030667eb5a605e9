//===- CudaDevicesTest.cpp - GPU discovery and a first kernel -------------===//
//
// Runs everywhere CUDA is built. Without a GPU the device tests skip with the
// reason; the no-device diagnostic itself is checked instead.
//
//===----------------------------------------------------------------------===//

#include <vector>

#include "runtime/cuda/CudaDevices.h"
#include "runtime/cuda/FillKernel.h"
#include "gtest/gtest.h"

namespace tessel::cuda {
namespace {

TEST(CudaDevicesTest, NcclVersionIsReported) {
  absl::StatusOr<std::string> version = ncclVersionString();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->front(), '2') << *version;
}

TEST(CudaDevicesTest, NoDeviceIsAClearError) {
  absl::StatusOr<std::vector<CudaDeviceInfo>> devices = listCudaDevices();
  if (devices.ok())
    GTEST_SKIP() << "this machine has " << devices->size() << " GPU(s)";
  EXPECT_EQ(devices.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(devices.status().message().find("no CUDA device available"),
            std::string::npos)
      << devices.status();
}

TEST(CudaDevicesTest, FillWritesEveryElementOnEveryDevice) {
  absl::StatusOr<std::vector<CudaDeviceInfo>> devices = listCudaDevices();
  if (!devices.ok())
    GTEST_SKIP() << "needs a GPU: " << devices.status().message();
  constexpr int64_t kCount = (1 << 20) + 3;
  for (const CudaDeviceInfo &device : *devices) {
    ASSERT_EQ(cudaSetDevice(device.ordinal), cudaSuccess);
    float *buffer = nullptr;
    ASSERT_EQ(cudaMalloc(&buffer, kCount * sizeof(float)), cudaSuccess);
    ASSERT_EQ(launchFill(buffer, 2.5f, kCount, nullptr), cudaSuccess);
    std::vector<float> host(kCount, 0.0f);
    ASSERT_EQ(cudaMemcpy(host.data(), buffer, kCount * sizeof(float),
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
    cudaFree(buffer);
    EXPECT_EQ(host.front(), 2.5f) << device.name;
    EXPECT_EQ(host.back(), 2.5f) << device.name;
  }
}

} // namespace
} // namespace tessel::cuda
