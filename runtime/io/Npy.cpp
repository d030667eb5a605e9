//===- Npy.cpp - NumPy .npy files -----------------------------------------===//

#include "runtime/io/Npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/kernels/ElementTypes.h"

namespace tessel {
namespace {

const char kMagic[] = "\x93NUMPY";

/// NumPy's dtype strings of the element types ('|' for single bytes);
/// bf16 has none.
const std::pair<const char *, proto::ElementType> kDtypes[] = {
    {"<f4", proto::F32}, {"<f8", proto::F64}, {"<f2", proto::F16},
    {"<i4", proto::I32}, {"<i8", proto::I64}, {"|b1", proto::I1},
    {"|i1", proto::I8},  {"|u1", proto::U8},  {"<i2", proto::I16},
    {"<u2", proto::U16}, {"<u4", proto::U32}, {"<u8", proto::U64}};

/// The value of `key` in the header dictionary, as text.
std::string field(const std::string &header, const std::string &key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos)
    return "";
  size_t colon = header.find(':', at);
  if (colon == std::string::npos)
    return "";
  size_t start = header.find_first_not_of(' ', colon + 1);
  if (start == std::string::npos)
    return "";
  char open = header[start];
  size_t stop = open == '('    ? header.find(')', start) + 1
                : open == '\'' ? header.find('\'', start + 1) + 1
                               : header.find_first_of(",}", start);
  return header.substr(start, stop - start);
}

} // namespace

absl::StatusOr<HostTensor> readNpy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  auto bad = [&](const std::string &why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a readable .npy file: ", why));
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0)
    return bad("no .npy magic");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t headerLength, headerStart;
  if (major == 1) {
    headerLength = static_cast<unsigned char>(bytes[8]) |
                   static_cast<unsigned char>(bytes[9]) << 8;
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return bad("truncated header");
    headerLength = 0;
    for (int i = 0; i < 4; ++i)
      headerLength |=
          static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i]))
          << (8 * i);
    headerStart = 12;
  } else {
    return bad(absl::StrCat("format version ", major));
  }
  if (headerStart + headerLength > bytes.size())
    return bad("truncated header");
  std::string header = bytes.substr(headerStart, headerLength);
  std::string descr = field(header, "descr");
  std::string order = field(header, "fortran_order");
  std::string shape = field(header, "shape");
  if (order != "False")
    return bad("only C-order arrays are supported");
  HostTensor tensor;
  bool known = false;
  for (const auto &[name, type] : kDtypes)
    if (descr == absl::StrCat("'", name, "'")) {
      tensor.type = type;
      known = true;
    }
  if (!known)
    return bad(absl::StrCat("dtype ", descr,
                            " is not one of float32, float64, float16, "
                            "int32, int64, bool, int8, uint8, int16, uint16, "
                            "uint32, uint64"));
  if (shape.size() < 2)
    return bad("no shape");
  for (absl::string_view dim : absl::StrSplit(shape.substr(1, shape.size() - 2),
                                              ',', absl::SkipWhitespace())) {
    int64_t size;
    if (!absl::SimpleAtoi(dim, &size) || size < 0)
      return bad("malformed shape " + shape);
    tensor.dims.push_back(size);
  }
  size_t dataStart = headerStart + headerLength;
  size_t expected = tensor.numElements() * kernels::byteSize(tensor.type);
  if (bytes.size() - dataStart != expected)
    return bad(absl::StrCat("it holds ", bytes.size() - dataStart,
                            " bytes of data, its shape needs ", expected));
  tensor.bytes.assign(bytes.begin() + dataStart, bytes.end());
  return tensor;
}

absl::Status writeNpy(const std::string &path, const HostTensor &tensor) {
  const char *descr = nullptr;
  for (const auto &[name, type] : kDtypes)
    if (tensor.type == type)
      descr = name;
  if (!descr)
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot write '", path, "': ", proto::ElementType_Name(tensor.type),
        " has no NumPy dtype"));
  std::string shape = absl::StrJoin(tensor.dims, ", ");
  if (tensor.dims.size() == 1)
    shape += ",";
  std::string header =
      absl::StrCat("{'descr': '", descr,
                   "', 'fortran_order': False, 'shape': (", shape, "), }");
  // Pad so that the data starts at a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write '", path, "': ", std::strerror(errno)));
  out.write(kMagic, 6);
  out.put(1);
  out.put(0);
  out.put(static_cast<char>(header.size() & 0xff));
  out.put(static_cast<char>(header.size() >> 8));
  out << header;
  out.write(tensor.bytes.data(), tensor.bytes.size());
  if (!out)
    return absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
  return absl::OkStatus();
}

} // namespace tessel
