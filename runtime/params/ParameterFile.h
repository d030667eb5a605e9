//===- ParameterFile.h - Model weights beside the program -------*- C++ -*-===//
//
// A parameter file holds a model's weights, so that neither the IR nor the
// executable carries them. Layout (all integers little-endian):
//
//   bytes 0-7    magic "TSLPARAM"
//   bytes 8-11   format version (kParameterFileVersion)
//   bytes 12-15  reserved, 0
//   bytes 16-23  length L of the serialized tessel.proto.ParameterIndex
//   bytes 24-    the index, then zero padding to a multiple of 64: the data
//                section starts there, each entry's bytes at a 64-byte
//                aligned offset within it.
//
// An entry may instead name another file (ONNX external data), which is read
// in place. Every offset and size is checked against the file it names when
// the file is opened.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_PARAMS_PARAMETERFILE_H
#define TESSEL_RUNTIME_PARAMS_PARAMETERFILE_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/ElementType.h"
#include "runtime/proto/parameters.pb.h"

namespace tessel {

inline constexpr uint32_t kParameterFileVersion = 1;

/// Writes a parameter file. Entries are added first (only pointers to their
/// bytes are kept, which must stay alive until write()), then written at once.
class ParameterFileWriter {
public:
  /// A parameter whose bytes are copied into the file.
  void add(std::string name, proto::ElementType type, std::vector<int64_t> dims,
           absl::Span<const char> bytes);
  /// A parameter whose bytes stay in `file` (an absolute path, or one
  /// relative to the parameter file's directory) at `offset`.
  void addExternal(std::string name, proto::ElementType type,
                   std::vector<int64_t> dims, std::string file, uint64_t offset,
                   uint64_t byteSize);
  absl::Status write(const std::string &path) const;

private:
  proto::ParameterIndex index;
  std::vector<absl::Span<const char>> inlineBytes; // parallel to entries
};

/// A parameter file opened for reading; entries are validated at open().
class ParameterFile {
public:
  static absl::StatusOr<ParameterFile> open(const std::string &path);

  const proto::ParameterIndex &index() const { return parameterIndex; }
  /// The path it was opened at.
  const std::string &name() const { return path; }
  /// The entry named `name`, or NotFound.
  absl::StatusOr<const proto::ParameterEntry *>
  find(const std::string &name) const;
  /// Where the bytes of `entry` are: a file (absolute, or relative to the
  /// current folder) and the offset in it.
  std::pair<std::string, uint64_t>
  locate(const proto::ParameterEntry &entry) const;
  /// Reads the bytes of `entry` into `destination`, whose size must equal
  /// the entry's byte size.
  absl::Status read(const proto::ParameterEntry &entry,
                    absl::Span<char> destination) const;

private:
  /// `file` of an entry: absolute, or relative to this file's directory.
  std::string resolve(const std::string &file) const;

  std::string path;
  std::string directory;
  uint64_t dataStart = 0;
  proto::ParameterIndex parameterIndex;
};

} // namespace tessel

#endif // TESSEL_RUNTIME_PARAMS_PARAMETERFILE_H
