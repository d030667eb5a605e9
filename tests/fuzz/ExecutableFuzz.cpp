//===- ExecutableFuzz.cpp - Bytes -> executable -> host backend -----------===//
//
// Any bytes are read as an executable file (magic, proto, validation),
// loaded on the host backend, and run on zero inputs when those are small.
// Whatever the validator lets through must load and run without a crash,
// an out-of-bounds access or a hang: the validator is what stands between
// a damaged file and the kernels.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <string_view>

#include "google/protobuf/stubs/logging.h"
#include "runtime/Executable.h"
#include "runtime/host/HostBackend.h"
#include "runtime/kernels/ElementTypes.h"

namespace {
// Damaged protos log why they do not parse: expected here, and slow.
const bool kQuiet = (google::protobuf::SetLogHandler(nullptr), true);
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  absl::StatusOr<tessel::proto::Executable> executable =
      tessel::parseExecutable(
          std::string_view(reinterpret_cast<const char *>(data), size),
          "fuzz.tessel");
  if (!executable.ok())
    return 0;
  // Inputs of zeros, unless they would be large (a valid executable may
  // well be large; that is not what is fuzzed here).
  constexpr int64_t kMaxBytes = int64_t(1) << 24;
  int64_t total = 0;
  std::vector<tessel::HostTensor> inputs;
  for (const tessel::proto::TensorSpec &spec : executable->inputs()) {
    tessel::HostTensor tensor;
    tensor.type = spec.element_type();
    tensor.dims.assign(spec.dims().begin(), spec.dims().end());
    int64_t bytes = tessel::kernels::byteSize(tensor.type);
    for (int64_t dim : tensor.dims) {
      if (dim < 0 || (dim > 0 && bytes > kMaxBytes / dim))
        return 0;
      bytes *= dim;
    }
    total += bytes;
    if (total > kMaxBytes)
      return 0;
    tensor.bytes.resize(bytes);
    inputs.push_back(std::move(tensor));
  }
  tessel::HostBackend backend(/*threads=*/1);
  absl::StatusOr<std::unique_ptr<tessel::LoadedExecutable>> loaded =
      backend.load(*executable, "/nonexistent");
  if (!loaded.ok())
    return 0;
  (void)(*loaded)->run(inputs);
  return 0;
}
