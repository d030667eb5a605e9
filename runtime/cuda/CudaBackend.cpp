//===- CudaBackend.cpp - GPUs, through the cuda plugin --------------------===//

#include "runtime/cuda/CudaBackend.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/MpiProcesses.h"
#include "runtime/cuda/PlanBackend.h"

namespace tessel::cuda {
namespace {

/// The directory of the running executable, or "" if unknown.
std::string executableDirectory() {
  char path[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (length <= 0)
    return "";
  std::string file(path, length);
  size_t slash = file.rfind('/');
  return slash == std::string::npos ? "" : file.substr(0, slash);
}

absl::StatusOr<const CudaPluginApi *> openPlugin() {
  std::string file;
  if (const char *chosen = std::getenv("TESSEL_CUDA_PLUGIN"); chosen && *chosen)
    file = chosen;
  else
    file = absl::StrCat(executableDirectory(), "/", kCudaPluginFile);
  if (access(file.c_str(), F_OK) != 0)
    return absl::FailedPreconditionError(absl::StrCat(
        "the cuda backend's plugin ", file,
        " does not exist: it is built only where the CUDA toolkit and NCCL "
        "were found at build time (set TESSEL_CUDA_PLUGIN to use one "
        "elsewhere)"));
  // Local: the plugin's symbols serve only the table it returns.
  void *handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return absl::FailedPreconditionError(absl::StrCat(
        "the cuda backend's plugin ", file, " did not load: ", dlerror()));
  using Entry = const CudaPluginApi *(*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, kCudaPluginSymbol));
  if (!entry)
    return absl::FailedPreconditionError(
        absl::StrCat("the cuda backend's plugin ", file, " has no symbol ",
                     kCudaPluginSymbol));
  const CudaPluginApi *api = entry();
  if (!api || api->version != kCudaPluginVersion)
    return absl::FailedPreconditionError(
        absl::StrCat("the cuda backend's plugin ", file, " is version ",
                     api ? api->version : -1, ", this program needs version ",
                     kCudaPluginVersion, " (rebuild it with this tree)"));
  // Never unloaded: its code runs until exit (devices, NCCL).
  return api;
}

} // namespace

absl::StatusOr<const CudaPluginApi *> loadCudaPlugin() {
  static std::once_flag once;
  static absl::StatusOr<const CudaPluginApi *> plugin =
      absl::UnknownError("unset");
  std::call_once(once, [] { plugin = openPlugin(); });
  return plugin;
}

absl::StatusOr<std::unique_ptr<Backend>>
makeCudaBackend(double collectiveTimeoutSeconds, bool processPerDevice,
                bool profile) {
  absl::StatusOr<const CudaPluginApi *> plugin = loadCudaPlugin();
  if (!plugin.ok())
    return plugin.status();
  return makeCudaBackend(**plugin, collectiveTimeoutSeconds, processPerDevice,
                         profile);
}

absl::StatusOr<std::unique_ptr<Backend>>
makeCudaBackend(const CudaPluginApi &driver, double collectiveTimeoutSeconds,
                bool processPerDevice, bool profile) {
  absl::StatusOr<std::vector<CudaDeviceInfo>> gpus = driver.listDevices();
  if (!gpus.ok())
    return gpus.status();
  int available = static_cast<int>(gpus->size());
  auto makeDevice = driver.makeDevice;
  if (processPerDevice) {
    // Ranks on one host share its GPUs: local rank r takes GPU r % count.
    const char *localRank = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    int gpu = (localRank ? std::atoi(localRank) : 0) % available;
    return std::unique_ptr<Backend>(new PlanBackend(
        "cuda",
        [gpu, makeDevice](int,
                          int) -> absl::StatusOr<std::unique_ptr<DeviceApi>> {
          return makeDevice(gpu);
        },
        driver.makeNccl(), collectiveTimeoutSeconds, mpiProcesses(), profile));
  }
  return std::unique_ptr<Backend>(new PlanBackend(
      "cuda",
      [available, makeDevice](
          int device, int count) -> absl::StatusOr<std::unique_ptr<DeviceApi>> {
        if (count > available)
          return absl::FailedPreconditionError(
              absl::StrCat("the executable has ", count,
                           " devices but this machine has ", available,
                           " GPUs (one GPU per device; run one process per "
                           "device with mpirun across hosts)"));
        return makeDevice(device);
      },
      driver.makeNccl(), collectiveTimeoutSeconds, nullptr, profile));
}

} // namespace tessel::cuda
