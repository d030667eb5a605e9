//===- ParameterFile.cpp - Model weights beside the program ---------------===//

#include "runtime/params/ParameterFile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace tessel {
namespace {

constexpr char kMagic[8] = {'T', 'S', 'L', 'P', 'A', 'R', 'A', 'M'};
constexpr uint64_t kHeaderSize = 24;
constexpr uint64_t kAlignment = 64;

uint64_t alignUp(uint64_t value) {
  return (value + kAlignment - 1) / kAlignment * kAlignment;
}

void putLittleEndian(char *out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint64_t getLittleEndian(const char *in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i]))
             << (8 * i);
  return value;
}

/// TESSEL_KILL_WRITING=<n>, a test's fault: the n-th parameter file this
/// process writes ends it (SIGKILL) halfway through; 0 when unset.
int killWritingAt() {
  const char *text = std::getenv("TESSEL_KILL_WRITING");
  return text ? std::atoi(text) : 0;
}

struct FileCloser {
  void operator()(FILE *file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

absl::StatusOr<uint64_t> fileSize(const std::string &path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0)
    return absl::NotFoundError(
        absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  return static_cast<uint64_t>(info.st_size);
}

/// Reads `destination.size()` bytes of `where` at `offset`.
absl::Status readRange(const std::string &where, uint64_t offset,
                       absl::Span<char> destination,
                       const proto::ParameterEntry &entry) {
  FilePtr file(std::fopen(where.c_str(), "rb"));
  if (!file)
    return absl::NotFoundError(
        absl::StrCat("cannot open '", where, "': ", std::strerror(errno)));
  if (fseeko(file.get(), static_cast<off_t>(offset), SEEK_SET) != 0 ||
      std::fread(destination.data(), 1, destination.size(), file.get()) !=
          destination.size())
    return absl::DataLossError(absl::StrCat("reading parameter '", entry.name(),
                                            "' from '", where, "' failed"));
  return absl::OkStatus();
}

absl::Status checkDestination(const proto::ParameterEntry &entry,
                              absl::Span<char> destination) {
  if (destination.size() != entry.byte_size())
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", entry.name(), "' has ", entry.byte_size(),
                     " bytes, the destination ", destination.size()));
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<const proto::ParameterEntry *>
ParameterStore::find(const std::string &name) const {
  for (const proto::ParameterEntry &entry : index().entries())
    if (entry.name() == name)
      return &entry;
  return absl::NotFoundError(
      absl::StrCat("parameter '", name, "' is not in '", this->name(), "'"));
}

void ParameterSet::add(std::string name, proto::ElementType type,
                       std::vector<int64_t> dims,
                       absl::Span<const char> bytes) {
  proto::ParameterEntry *entry = entries.add_entries();
  entry->set_name(std::move(name));
  entry->set_element_type(type);
  entry->mutable_dims()->Add(dims.begin(), dims.end());
  entry->set_byte_size(bytes.size());
  inlineBytes.push_back(bytes);
}

void ParameterSet::addOwned(std::string name, proto::ElementType type,
                            std::vector<int64_t> dims, std::string bytes) {
  owned.push_back(std::make_unique<std::string>(std::move(bytes)));
  add(std::move(name), type, std::move(dims), *owned.back());
}

void ParameterSet::addExternal(std::string name, proto::ElementType type,
                               std::vector<int64_t> dims, std::string file,
                               uint64_t offset, uint64_t byteSize) {
  proto::ParameterEntry *entry = entries.add_entries();
  entry->set_name(std::move(name));
  entry->set_element_type(type);
  entry->mutable_dims()->Add(dims.begin(), dims.end());
  entry->set_file(std::move(file));
  entry->set_offset(offset);
  entry->set_byte_size(byteSize);
  inlineBytes.emplace_back();
}

absl::Status ParameterSet::read(const proto::ParameterEntry &entry,
                                absl::Span<char> destination) const {
  if (absl::Status status = checkDestination(entry, destination); !status.ok())
    return status;
  int i = 0;
  while (i < entries.entries_size() && &entries.entries(i) != &entry)
    ++i;
  if (i == entries.entries_size())
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter '", entry.name(), "' is not an entry of ", setName));
  if (!entry.file().empty())
    return readRange(entry.file(), entry.offset(), destination, entry);
  std::memcpy(destination.data(), inlineBytes[i].data(), destination.size());
  return absl::OkStatus();
}

absl::Status ParameterSet::write(const std::string &path) const {
  // Offsets are assigned before the index is serialized, so that the index
  // can precede the data it describes.
  proto::ParameterIndex finalIndex = entries;
  uint64_t offset = 0;
  for (int i = 0; i < finalIndex.entries_size(); ++i) {
    proto::ParameterEntry *entry = finalIndex.mutable_entries(i);
    if (!entry->file().empty())
      continue;
    entry->set_offset(offset);
    offset = alignUp(offset + entry->byte_size());
  }
  std::string serialized;
  if (!finalIndex.SerializeToString(&serialized))
    return absl::InternalError("cannot serialize the parameter index");

  // Written beside `path` under another name, synced, then renamed over
  // it: a process killed mid-write leaves the file as it was.
  std::string temporary = absl::StrCat(path, ".tmp.", ::getpid());
  FilePtr out(std::fopen(temporary.c_str(), "wb"));
  if (!out)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write '", temporary, "': ", std::strerror(errno)));
  bool good = true;
  auto put = [&](const char *data, size_t size) {
    good = good && std::fwrite(data, 1, size, out.get()) == size;
  };
  char header[kHeaderSize] = {};
  std::memcpy(header, kMagic, sizeof(kMagic));
  putLittleEndian(header + 8, kParameterFileVersion, 4);
  putLittleEndian(header + 16, serialized.size(), 8);
  put(header, kHeaderSize);
  put(serialized.data(), serialized.size());
  const std::string zeros(kAlignment, '\0');
  uint64_t position = kHeaderSize + serialized.size();
  put(zeros.data(), alignUp(position) - position);
  uint64_t written = 0;
  static int writes = 0;
  bool killHalfway = ++writes == killWritingAt();
  for (int i = 0; i < finalIndex.entries_size(); ++i) {
    const proto::ParameterEntry &entry = finalIndex.entries(i);
    if (!entry.file().empty())
      continue;
    if (killHalfway && i == finalIndex.entries_size() / 2) {
      std::fflush(out.get());
      ::raise(SIGKILL);
    }
    put(zeros.data(), entry.offset() - written);
    put(inlineBytes[i].data(), inlineBytes[i].size());
    written = entry.offset() + entry.byte_size();
  }
  good =
      good && std::fflush(out.get()) == 0 && ::fsync(::fileno(out.get())) == 0;
  good = std::fclose(out.release()) == 0 && good;
  if (!good || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(temporary.c_str());
    return absl::DataLossError(
        absl::StrCat("writing '", path, "' failed: ", why));
  }
  // The rename itself survives a crash once the folder is synced.
  size_t slash = path.find_last_of('/');
  std::string folder =
      slash == std::string::npos ? "." : path.substr(0, slash + 1);
  if (int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  return absl::OkStatus();
}

absl::StatusOr<ParameterFile> ParameterFile::open(const std::string &path) {
  absl::StatusOr<uint64_t> size = fileSize(path);
  if (!size.ok())
    return size.status();
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file)
    return absl::NotFoundError(
        absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  char header[kHeaderSize];
  if (*size < kHeaderSize ||
      std::fread(header, 1, kHeaderSize, file.get()) != kHeaderSize ||
      std::memcmp(header, kMagic, sizeof(kMagic)) != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a Tessel parameter file"));
  uint64_t version = getLittleEndian(header + 8, 4);
  if (version != kParameterFileVersion)
    return absl::FailedPreconditionError(
        absl::StrCat("'", path, "' has parameter file format version ", version,
                     ", this build reads version ", kParameterFileVersion));
  uint64_t indexSize = getLittleEndian(header + 16, 8);
  if (indexSize > *size - kHeaderSize)
    return absl::DataLossError(absl::StrCat(
        "'", path, "' is truncated: its index needs ", indexSize, " bytes"));
  std::string serialized(indexSize, '\0');
  ParameterFile result;
  if (std::fread(serialized.data(), 1, indexSize, file.get()) != indexSize ||
      !result.parameterIndex.ParseFromString(serialized))
    return absl::DataLossError(
        absl::StrCat("'", path, "' has a corrupt parameter index"));
  result.path = path;
  size_t slash = path.find_last_of('/');
  result.directory = slash == std::string::npos ? "." : path.substr(0, slash);
  result.dataStart = alignUp(kHeaderSize + indexSize);

  absl::flat_hash_map<std::string, uint64_t> externalSizes;
  for (const proto::ParameterEntry &entry : result.parameterIndex.entries()) {
    for (int64_t dim : entry.dims())
      if (dim < 0)
        return absl::DataLossError(absl::StrCat("parameter '", entry.name(),
                                                "' has a negative dimension"));
    int64_t elementSize = elementByteSize(entry.element_type());
    int64_t bytes = checkedProduct(entry.dims(), elementSize);
    if (elementSize == 0 || bytes < 0 ||
        static_cast<uint64_t>(bytes) != entry.byte_size())
      return absl::DataLossError(absl::StrCat(
          "parameter '", entry.name(), "' declares ", entry.byte_size(),
          " bytes, inconsistent with its ", "element type and shape"));
    uint64_t available;
    std::string where;
    if (entry.file().empty()) {
      available = *size < result.dataStart ? 0 : *size - result.dataStart;
      where = path;
    } else {
      where = result.resolve(entry.file());
      auto [it, inserted] = externalSizes.try_emplace(where, 0);
      if (inserted) {
        absl::StatusOr<uint64_t> externalSize = fileSize(where);
        if (!externalSize.ok())
          return absl::NotFoundError(
              absl::StrCat("parameter '", entry.name(), "' is stored in ",
                           externalSize.status().message()));
        it->second = *externalSize;
      }
      available = it->second;
    }
    if (entry.offset() > available ||
        entry.byte_size() > available - entry.offset())
      return absl::DataLossError(absl::StrCat(
          "parameter '", entry.name(), "' lies beyond the end of '", where,
          "' (offset ", entry.offset(), ", ", entry.byte_size(),
          " bytes): the file is truncated"));
  }
  return result;
}

std::string ParameterFile::resolve(const std::string &file) const {
  return !file.empty() && file.front() == '/' ? file : directory + "/" + file;
}

std::pair<std::string, uint64_t>
ParameterFile::locate(const proto::ParameterEntry &entry) const {
  if (entry.file().empty())
    return {path, dataStart + entry.offset()};
  return {resolve(entry.file()), entry.offset()};
}

absl::Status ParameterFile::read(const proto::ParameterEntry &entry,
                                 absl::Span<char> destination) const {
  if (absl::Status status = checkDestination(entry, destination); !status.ok())
    return status;
  auto [where, offset] = locate(entry);
  return readRange(where, offset, destination, entry);
}

} // namespace tessel
