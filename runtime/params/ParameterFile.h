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
#include <memory>
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

/// Where a loaded executable's parameters come from: a parameter file, or
/// a set of tensors in memory (a model compiled by a program that embeds
/// Tessel and runs it without writing files).
class ParameterStore {
public:
  virtual ~ParameterStore() = default;
  /// What errors call the store (a path, or "the model in memory").
  virtual const std::string &name() const = 0;
  virtual const proto::ParameterIndex &index() const = 0;
  /// The entry named `name`, or NotFound.
  absl::StatusOr<const proto::ParameterEntry *>
  find(const std::string &name) const;
  /// Reads the bytes of `entry` (one of index()'s) into `destination`,
  /// whose size must equal the entry's byte size.
  virtual absl::Status read(const proto::ParameterEntry &entry,
                            absl::Span<char> destination) const = 0;
};

/// Parameters in memory, written out as a parameter file by write().
/// Entries either point at bytes the set does not own (kept alive by
/// keepAlive() or by the caller), own theirs, or name a file.
class ParameterSet : public ParameterStore {
public:
  explicit ParameterSet(std::string name = "the parameters in memory")
      : setName(std::move(name)) {}
  /// A parameter whose bytes stay where they are; they must outlive the
  /// set (see keepAlive).
  void add(std::string name, proto::ElementType type, std::vector<int64_t> dims,
           absl::Span<const char> bytes);
  /// A parameter whose bytes the set keeps.
  void addOwned(std::string name, proto::ElementType type,
                std::vector<int64_t> dims, std::string bytes);
  /// A parameter whose bytes stay in `file` (an absolute path, or one
  /// relative to the parameter file's directory) at `offset`.
  void addExternal(std::string name, proto::ElementType type,
                   std::vector<int64_t> dims, std::string file, uint64_t offset,
                   uint64_t byteSize);
  /// Keeps `owner` (what add()'s bytes live in) alive with the set.
  void keepAlive(std::shared_ptr<const void> owner) {
    owners.push_back(std::move(owner));
  }
  /// Writes the set at `path` atomically: under another name beside it,
  /// synced, then renamed over it, so that a process killed mid-write
  /// leaves the file at `path` as it was. (For tests:
  /// TESSEL_KILL_WRITING=<n> makes the n-th write of a process end it
  /// halfway through.)
  absl::Status write(const std::string &path) const;

  const std::string &name() const override { return setName; }
  const proto::ParameterIndex &index() const override { return entries; }
  absl::Status read(const proto::ParameterEntry &entry,
                    absl::Span<char> destination) const override;

private:
  std::string setName;
  proto::ParameterIndex entries;
  std::vector<absl::Span<const char>> inlineBytes; // parallel to entries
  std::vector<std::unique_ptr<std::string>> owned;
  std::vector<std::shared_ptr<const void>> owners;
};

/// A parameter file opened for reading; entries are validated at open().
class ParameterFile : public ParameterStore {
public:
  static absl::StatusOr<ParameterFile> open(const std::string &path);

  const proto::ParameterIndex &index() const override { return parameterIndex; }
  /// The path it was opened at.
  const std::string &name() const override { return path; }
  /// Where the bytes of `entry` are: a file (absolute, or relative to the
  /// current folder) and the offset in it.
  std::pair<std::string, uint64_t>
  locate(const proto::ParameterEntry &entry) const;
  /// Reads the bytes of `entry` into `destination`, whose size must equal
  /// the entry's byte size.
  absl::Status read(const proto::ParameterEntry &entry,
                    absl::Span<char> destination) const override;

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
