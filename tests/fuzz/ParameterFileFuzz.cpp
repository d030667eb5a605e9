//===- ParameterFileFuzz.cpp - Bytes -> parameter file -> every entry -----===//
//
// Any bytes are opened as a parameter file (from memory, through a memfd)
// and every entry of a size that fits is read. Property: what open()
// accepts, read() reads within the file, or refuses.
//
//===----------------------------------------------------------------------===//

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "runtime/params/ParameterFile.h"

namespace {
// Damaged protos log why they do not parse: expected here, and slow.
const bool kQuiet = (google::protobuf::SetLogHandler(nullptr), true);
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("tessel-params", MFD_CLOEXEC);
  if (fd < 0)
    return 0;
  for (size_t written = 0; written < size;) {
    ssize_t n = write(fd, data + written, size - written);
    if (n <= 0) {
      close(fd);
      return 0;
    }
    written += static_cast<size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  absl::StatusOr<tessel::ParameterFile> file =
      tessel::ParameterFile::open(path);
  if (file.ok()) {
    for (const tessel::proto::ParameterEntry &entry : file->index().entries()) {
      if (entry.byte_size() > (uint64_t(1) << 24))
        continue;
      std::vector<char> bytes(entry.byte_size());
      (void)file->read(entry, absl::Span<char>(bytes.data(), bytes.size()));
    }
  }
  close(fd);
  return 0;
}
