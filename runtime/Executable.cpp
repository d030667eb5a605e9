//===- Executable.cpp - Reading and writing executables -------------------===//

#include "runtime/Executable.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "runtime/ElementType.h"
#include "runtime/kernels/ElementTypes.h"

namespace tessel {
namespace {

constexpr char kMagic[8] = {'T', 'S', 'L', 'E', 'X', 'E', 'C', '\0'};

absl::Status invalid(const std::string &message) {
  return absl::DataLossError("invalid executable: " + message);
}

/// Elements of `dims` (-1: a negative dimension, or too many to count).
int64_t elementCount(const google::protobuf::RepeatedField<int64_t> &dims) {
  return checkedProduct(dims);
}

} // namespace

StepSignature stepSignature(const proto::Executable &executable) {
  StepSignature signature;
  std::set<int64_t> stateInputs, updates;
  for (const proto::StateUpdate &update : executable.state_updates()) {
    const proto::TensorSpec &spec = update.parameter()
                                        ? executable.parameters(update.index())
                                        : executable.inputs(update.index());
    signature.state.push_back({spec.name(), &spec, &update});
    updates.insert(update.output());
    if (!update.parameter())
      stateInputs.insert(update.index());
  }
  for (int i = 0; i < executable.inputs_size(); ++i)
    if (!stateInputs.count(i))
      signature.inputs.push_back(i);
  for (int o = 0; o < executable.outputs_size(); ++o)
    if (!updates.count(o))
      signature.outputs.push_back(o);
  return signature;
}

const StepSignature::State *StepSignature::find(const std::string &name) const {
  for (const State &entry : state)
    if (entry.name == name)
      return &entry;
  return nullptr;
}

absl::StatusOr<int> StepSignature::indexOf(const std::string &name) const {
  for (size_t k = 0; k < state.size(); ++k)
    if (state[k].name == name)
      return static_cast<int>(k);
  return absl::NotFoundError(absl::StrCat(
      "'", name, "' is no state of the executable (",
      state.empty() ? "it has none: no output updates an input or a parameter"
                    : "an input or parameter that an output updates",
      ")"));
}

int64_t meshSize(const proto::Mesh &mesh) {
  int64_t size = 1;
  for (const proto::MeshAxis &axis : mesh.axes())
    size *= axis.size();
  return size;
}

std::string
describeTensor(proto::ElementType type,
               const google::protobuf::RepeatedField<int64_t> &dims) {
  std::string name = proto::ElementType_Name(type);
  for (char &c : name)
    c = static_cast<char>(std::tolower(c));
  return absl::StrCat(absl::StrJoin(dims, "x"), dims.empty() ? "" : "x", name);
}

/// Whether a part of `dims` at `offsets` (none: the whole) is a part of a
/// tensor of `global` dims: it starts inside it or, all padding, past it
/// (the last parts of an uneven split may reach past the end).
bool partFits(const google::protobuf::RepeatedField<int64_t> &offsets,
              const google::protobuf::RepeatedField<int64_t> &dims,
              const google::protobuf::RepeatedField<int64_t> &global) {
  int64_t count = elementCount(dims), whole = elementCount(global);
  if (count < 0 || whole < 0)
    return false;
  if (offsets.empty()) // The whole tensor, or a view of its bytes.
    return count <= whole;
  if (offsets.size() != dims.size() || dims.size() != global.size())
    return false;
  // (Dimensions are >= 0 here: offset + dim > global, without overflow.)
  for (int d = 0; d < dims.size(); ++d)
    if (offsets[d] < 0 || (offsets[d] > global[d] - dims[d] &&
                           offsets[d] % std::max<int64_t>(dims[d], 1) != 0))
      return false;
  return true;
}

namespace {
/// Checks that each state update names an output and a target of the same
/// type and shape, each target once, and that every device holds the same
/// part of both (what lets a runtime write its part of the update over its
/// part of the target without talking to the others).
absl::Status validateStateUpdates(const proto::Executable &executable) {
  std::set<std::pair<bool, int64_t>> targets;
  std::set<int64_t> outputs;
  for (const proto::StateUpdate &update : executable.state_updates()) {
    const auto &specs =
        update.parameter() ? executable.parameters() : executable.inputs();
    const char *kind = update.parameter() ? "parameter" : "input";
    if (update.output() < 0 || update.output() >= executable.outputs_size() ||
        update.index() < 0 || update.index() >= specs.size())
      return invalid(absl::StrCat("a state update names output ",
                                  update.output(), " and ", kind, " ",
                                  update.index()));
    const proto::TensorSpec &output = executable.outputs(update.output());
    const proto::TensorSpec &target = specs.Get(update.index());
    if (!outputs.insert(update.output()).second ||
        !targets.insert({update.parameter(), update.index()}).second)
      return invalid(absl::StrCat("output '", output.name(), "' or ", kind,
                                  " '", target.name(),
                                  "' is in two state updates"));
    if (output.element_type() != target.element_type() ||
        !std::equal(output.dims().begin(), output.dims().end(),
                    target.dims().begin(), target.dims().end()))
      return invalid(absl::StrCat(
          "output '", output.name(), "' (",
          describeTensor(output.element_type(), output.dims()),
          ") cannot update ", kind, " '", target.name(), "' (",
          describeTensor(target.element_type(), target.dims()), ")"));
    proto::Buffer::Storage storage =
        update.parameter() ? proto::Buffer::PARAMETER : proto::Buffer::INPUT;
    for (const proto::DeviceProgram &program : executable.programs()) {
      const proto::Buffer &part =
          program.buffers(program.output_buffers(update.output()));
      auto held =
          std::find_if(program.buffers().begin(), program.buffers().end(),
                       [&](const proto::Buffer &buffer) {
                         return buffer.storage() == storage &&
                                buffer.index() == update.index();
                       });
      if (held == program.buffers().end())
        continue; // The device does not read the target: nothing to match.
      bool sameOffsets =
          program.output_offsets_size() == 0
              ? held->global_offsets().empty()
              : std::equal(
                    program.output_offsets(update.output()).values().begin(),
                    program.output_offsets(update.output()).values().end(),
                    held->global_offsets().begin(),
                    held->global_offsets().end());
      if (!sameOffsets || !std::equal(part.dims().begin(), part.dims().end(),
                                      held->dims().begin(), held->dims().end()))
        return invalid(absl::StrCat("device ", program.device_id(),
                                    " holds another part of output '",
                                    output.name(), "' than of the ", kind, " '",
                                    target.name(), "' it updates"));
    }
  }
  return absl::OkStatus();
}
} // namespace

namespace {
/// Every asynchronous collective is waited for once, by a later
/// collective_done naming it, and every collective_done waits for one.
absl::Status validateAsyncCollectives(const proto::DeviceProgram &program) {
  std::vector<bool> waited(program.instructions_size(), false);
  for (int64_t i = 0; i < program.instructions_size(); ++i) {
    const proto::Instruction &instruction = program.instructions(i);
    if (instruction.op() != "collective_done")
      continue;
    auto start = instruction.attributes().find("start");
    int64_t s = start == instruction.attributes().end() ? -1
                : start->second.value_case() == proto::Attribute::kI
                    ? start->second.i()
                    : -1;
    if (s < 0 || s >= i || program.instructions(s).op() != "collective" ||
        !program.instructions(s).collective().async() || waited[s])
      return invalid(absl::StrCat(
          "instruction ", i, " (collective_done for tensor '",
          instruction.location(),
          "') does not name an earlier asynchronous collective not yet "
          "waited for"));
    waited[s] = true;
  }
  for (int64_t i = 0; i < program.instructions_size(); ++i)
    if (program.instructions(i).op() == "collective" &&
        program.instructions(i).collective().async() && !waited[i])
      return invalid(absl::StrCat("asynchronous collective ", i, " (tensor '",
                                  program.instructions(i).location(),
                                  "') is never waited for"));
  return absl::OkStatus();
}
} // namespace

void keepOnlyDevice(proto::Executable &executable, int device,
                    bool keepReference) {
  // Swapped out: clearing would keep the messages for reuse.
  for (int d = 0; d < executable.programs_size(); ++d)
    if (d != device)
      google::protobuf::RepeatedPtrField<proto::Instruction>().Swap(
          executable.mutable_programs(d)->mutable_instructions());
  if (!keepReference)
    executable.clear_reference();
}

absl::Status validateExecutable(const proto::Executable &executable) {
  if (executable.format_version() != kExecutableFormatVersion)
    return absl::FailedPreconditionError(absl::StrCat(
        "the executable has format version ", executable.format_version(),
        "; this runtime reads version ", kExecutableFormatVersion,
        " (recompile the model with this version's tessel-compile)"));
  for (const proto::MeshAxis &axis : executable.mesh().axes())
    if (axis.size() < 1)
      return invalid(
          absl::StrCat("mesh axis '", axis.name(), "' has size ", axis.size()));
  std::vector<int64_t> axisSizes;
  for (const proto::MeshAxis &axis : executable.mesh().axes())
    axisSizes.push_back(axis.size());
  int64_t devices = checkedProduct(axisSizes);
  if (devices < 0)
    return invalid("the mesh has too many devices to count");
  if (executable.programs_size() != devices)
    return invalid(absl::StrCat("the mesh has ", devices,
                                " devices but there are ",
                                executable.programs_size(), " programs"));
  for (const auto *specs :
       {&executable.inputs(), &executable.outputs(), &executable.parameters()})
    for (const proto::TensorSpec &spec : *specs) {
      int64_t size = kernels::byteSize(spec.element_type());
      if (size == 0)
        return invalid(
            absl::StrCat("tensor '", spec.name(), "' has no element type"));
      if (checkedProduct(spec.dims(), size) < 0)
        return invalid(absl::StrCat("tensor '", spec.name(),
                                    "' has a negative dimension or more bytes "
                                    "than can be counted"));
      if (spec.stored_dims_size() > 0 &&
          checkedProduct(spec.stored_dims(), size) !=
              checkedProduct(spec.dims(), size))
        return invalid(absl::StrCat("tensor '", spec.name(), "' is viewed as ",
                                    absl::StrJoin(spec.dims(), "x"),
                                    " but stored as ",
                                    absl::StrJoin(spec.stored_dims(), "x"),
                                    ", which has another number of elements"));
    }
  for (const proto::DeviceProgram &program : executable.programs()) {
    int64_t buffers = program.buffers_size();
    for (int64_t id = 0; id < buffers; ++id) {
      const proto::Buffer &buffer = program.buffers(id);
      int64_t size = kernels::byteSize(buffer.element_type());
      if (size == 0)
        return invalid(absl::StrCat("buffer ", id, " has no element type"));
      for (int64_t dim : buffer.dims())
        if (dim < 0)
          return invalid(
              absl::StrCat("buffer ", id, " has a negative dimension"));
      int64_t counted = checkedProduct(buffer.dims(), size);
      if (counted < 0)
        return invalid(
            absl::StrCat("buffer ", id, " has more bytes than can be counted"));
      uint64_t bytes = static_cast<uint64_t>(counted);
      switch (buffer.storage()) {
      case proto::Buffer::ARENA:
        if (buffer.offset() > program.arena_bytes() ||
            bytes > program.arena_bytes() - buffer.offset())
          return invalid(absl::StrCat("buffer ", id, " lies beyond the arena"));
        break;
      case proto::Buffer::INPUT:
        if (buffer.index() < 0 || buffer.index() >= executable.inputs_size())
          return invalid(
              absl::StrCat("buffer ", id, " names input ", buffer.index()));
        if (!partFits(buffer.global_offsets(), buffer.dims(),
                      executable.inputs(buffer.index()).dims()))
          return invalid(absl::StrCat("buffer ", id, " is no part of input ",
                                      buffer.index()));
        break;
      case proto::Buffer::PARAMETER:
        if (buffer.index() < 0 ||
            buffer.index() >= executable.parameters_size())
          return invalid(
              absl::StrCat("buffer ", id, " names parameter ", buffer.index()));
        if (!partFits(buffer.global_offsets(), buffer.dims(),
                      executable.parameters(buffer.index()).dims()))
          return invalid(absl::StrCat(
              "buffer ", id, " is no part of parameter ", buffer.index()));
        break;
      case proto::Buffer::CONSTANT:
        if (buffer.data().size() != bytes)
          return invalid(absl::StrCat("constant buffer ", id, " has ",
                                      buffer.data().size(),
                                      " bytes, its shape needs ", bytes));
        break;
      default:
        return invalid(absl::StrCat("buffer ", id, " has no storage"));
      }
    }
    for (const proto::Instruction &instruction : program.instructions()) {
      for (const auto *ids : {&instruction.operands(), &instruction.results()})
        for (int64_t id : *ids)
          if (id < 0 || id >= buffers)
            return invalid(absl::StrCat("instruction '", instruction.op(),
                                        "' (tensor '", instruction.location(),
                                        "') uses buffer ", id, " of ",
                                        buffers));
    }
    if (absl::Status status = validateAsyncCollectives(program); !status.ok())
      return status;
    if (program.output_buffers_size() != executable.outputs_size())
      return invalid("every device must bind every output");
    for (int64_t id : program.output_buffers())
      if (id < 0 || id >= buffers)
        return invalid(absl::StrCat("an output is bound to buffer ", id));
    if (program.output_offsets_size() != 0 &&
        program.output_offsets_size() != executable.outputs_size())
      return invalid("every device must place every output or none");
    for (int o = 0; o < program.output_offsets_size(); ++o)
      if (!partFits(program.output_offsets(o).values(),
                    program.buffers(program.output_buffers(o)).dims(),
                    executable.outputs(o).dims()))
        return invalid(absl::StrCat("device ", program.device_id(),
                                    " places output ", o,
                                    " outside the output"));
  }
  return validateStateUpdates(executable);
}

absl::StatusOr<std::string>
serializeExecutable(const proto::Executable &executable) {
  std::string bytes(kMagic, sizeof(kMagic));
  if (!executable.AppendToString(&bytes))
    return absl::InternalError("cannot serialize the executable");
  return bytes;
}

absl::Status writeExecutable(const proto::Executable &executable,
                             const std::string &path) {
  absl::StatusOr<std::string> bytes = serializeExecutable(executable);
  if (!bytes.ok())
    return bytes.status();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write '", path, "': ", std::strerror(errno)));
  out.write(bytes->data(), bytes->size());
  out.flush();
  if (!out)
    return absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
  return absl::OkStatus();
}

namespace {
bool isFile(const std::string &path) {
  std::ifstream probe(path, std::ios::binary);
  return probe.good();
}
} // namespace

absl::Status locateParameterFile(proto::Executable &executable,
                                 const std::string &path,
                                 const std::string &given) {
  bool hasParameters = executable.parameters_size() > 0 ||
                       (executable.has_reference() &&
                        executable.reference().parameters_size() > 0);
  if (!hasParameters)
    return absl::OkStatus();
  auto use = [&](const std::string &file) {
    // Loading reads an absolute name as it is, others in the executable's
    // folder.
    std::string named = file;
    if (named.empty() || named.front() != '/') {
      char *cwd = ::getcwd(nullptr, 0);
      if (cwd) {
        named = absl::StrCat(cwd, "/", file);
        std::free(cwd);
      }
    }
    executable.set_parameter_file(named);
    if (executable.has_reference())
      executable.mutable_reference()->set_parameter_file(named);
  };
  if (!given.empty()) {
    if (!isFile(given))
      return absl::NotFoundError(absl::StrCat(
          "cannot open the parameter file '", given, "' (--params)"));
    use(given);
    return absl::OkStatus();
  }
  size_t slash = path.find_last_of('/');
  std::string directory =
      slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string &recorded = executable.parameter_file();
  std::string beside = recorded.empty() || recorded.front() == '/'
                           ? recorded
                           : absl::StrCat(directory, "/", recorded);
  if (!recorded.empty() && isFile(beside))
    return absl::OkStatus();
  std::string renamed = path + ".params";
  if (isFile(renamed)) {
    use(renamed);
    return absl::OkStatus();
  }
  return absl::NotFoundError(
      absl::StrCat("cannot find the parameter file of '", path, "': neither '",
                   beside, "' (the name it was compiled with) nor '", renamed,
                   "' exists; name it with --params"));
}

const google::protobuf::RepeatedField<int64_t> &
storedDims(const proto::TensorSpec &spec) {
  return spec.stored_dims_size() > 0 ? spec.stored_dims() : spec.dims();
}

absl::StatusOr<const proto::ParameterEntry *>
findParameter(const ParameterStore &file, const proto::TensorSpec &spec) {
  absl::StatusOr<const proto::ParameterEntry *> entry = file.find(spec.name());
  if (!entry.ok())
    return entry.status();
  const google::protobuf::RepeatedField<int64_t> &stored = storedDims(spec);
  bool sameDims = std::equal(stored.begin(), stored.end(),
                             (*entry)->dims().begin(), (*entry)->dims().end());
  if ((*entry)->element_type() != spec.element_type() || !sameDims)
    return absl::FailedPreconditionError(
        absl::StrCat("parameter '", spec.name(), "' is ",
                     describeTensor((*entry)->element_type(), (*entry)->dims()),
                     " in '", file.name(), "' but the executable expects ",
                     describeTensor(spec.element_type(), stored)));
  return *entry;
}

absl::Status linkParameterFile(const proto::Executable &executable,
                               const std::string &source,
                               const std::string &path) {
  absl::StatusOr<ParameterFile> file = ParameterFile::open(source);
  if (!file.ok())
    return file.status();
  // Entries name their data absolutely: the new file may lie elsewhere.
  std::string folder;
  if (char *cwd = ::getcwd(nullptr, 0)) {
    folder = cwd;
    std::free(cwd);
  }
  ParameterSet writer;
  for (const proto::TensorSpec &spec : executable.parameters()) {
    absl::StatusOr<const proto::ParameterEntry *> entry =
        findParameter(*file, spec);
    if (!entry.ok())
      return entry.status();
    auto [where, offset] = file->locate(**entry);
    if (where.empty() || where.front() != '/')
      where = absl::StrCat(folder, "/", where);
    writer.addExternal(spec.name(), spec.element_type(),
                       {storedDims(spec).begin(), storedDims(spec).end()},
                       where, offset, (*entry)->byte_size());
  }
  return writer.write(path);
}

absl::StatusOr<proto::Executable> readExecutable(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  std::stringstream contents;
  contents << in.rdbuf();
  return parseExecutable(contents.str(), path);
}

absl::StatusOr<proto::Executable> parseExecutable(std::string_view bytes,
                                                  const std::string &source) {
  if (bytes.size() < sizeof(kMagic) ||
      std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("'", source, "' is not a Tessel executable"));
  proto::Executable executable;
  if (!executable.ParseFromArray(
          bytes.data() + sizeof(kMagic),
          static_cast<int>(bytes.size() - sizeof(kMagic))))
    return absl::DataLossError(absl::StrCat(
        "'", source, "' is a corrupt Tessel executable (it does not parse)"));
  if (absl::Status status = validateExecutable(executable); !status.ok())
    return absl::Status(status.code(),
                        absl::StrCat("'", source, "': ", status.message()));
  return executable;
}

namespace {

/// A buffer's bytes (0 if they overflow).
int64_t bufferBytes(const proto::Buffer &buffer) {
  return std::max<int64_t>(
      0,
      checkedProduct(buffer.dims(), kernels::byteSize(buffer.element_type())));
}

/// An enum value's name in lower case ("ALL_REDUCE" -> "all_reduce").
std::string lowerCase(std::string name) {
  for (char &c : name)
    c = static_cast<char>(std::tolower(c));
  return name;
}

/// "all_reduce" for a collective's kind.
std::string kindName(const proto::Collective &collective) {
  return lowerCase(proto::Collective::Kind_Name(collective.kind()));
}

/// The bytes one device moves for `instruction` (a collective of
/// `program`): the larger of its operand and result, only the rows
/// received for a halo exchange.
int64_t bytesMoved(const proto::DeviceProgram &program,
                   const proto::Instruction &instruction) {
  auto bytesOf = [&](int64_t id) -> int64_t {
    return id < 0 || id >= program.buffers_size()
               ? 0
               : bufferBytes(program.buffers(id));
  };
  const proto::Collective &collective = instruction.collective();
  if (collective.kind() == proto::Collective::HALO_EXCHANGE &&
      instruction.operands_size() == 1 && instruction.operands(0) >= 0 &&
      instruction.operands(0) < program.buffers_size()) {
    const proto::Buffer &in = program.buffers(instruction.operands(0));
    int64_t dim = collective.dimension();
    int64_t rows = dim >= 0 && dim < in.dims_size() ? in.dims(dim) : 0;
    return rows == 0 ? 0
                     : bytesOf(instruction.operands(0)) / rows *
                           (std::max<int64_t>(0, collective.halo_low()) +
                            std::max<int64_t>(0, collective.halo_high()));
  }
  int64_t bytes = 0;
  for (int64_t id : instruction.operands())
    bytes = std::max(bytes, bytesOf(id));
  for (int64_t id : instruction.results())
    bytes = std::max(bytes, bytesOf(id));
  return bytes;
}

} // namespace

std::vector<CollectiveCount>
countCollectives(const proto::Executable &executable) {
  std::map<std::string, CollectiveCount> counts;
  if (executable.programs_size() == 0)
    return {};
  const proto::DeviceProgram &program = executable.programs(0);
  for (const proto::Instruction &instruction : program.instructions()) {
    if (instruction.op() != "collective")
      continue;
    std::string kind = kindName(instruction.collective());
    CollectiveCount &count = counts[kind];
    count.kind = kind;
    ++count.count;
    count.bytesPerDevice += bytesMoved(program, instruction);
  }
  std::vector<CollectiveCount> result;
  for (auto &[kind, count] : counts)
    result.push_back(count);
  return result;
}

bool arenaOverlap(const proto::DeviceProgram &program, int64_t a, int64_t b) {
  const proto::Buffer &x = program.buffers(a), &y = program.buffers(b);
  if (x.storage() != proto::Buffer::ARENA ||
      y.storage() != proto::Buffer::ARENA)
    return false;
  return static_cast<int64_t>(x.offset()) <
             static_cast<int64_t>(y.offset()) + bufferBytes(y) &&
         static_cast<int64_t>(y.offset()) <
             static_cast<int64_t>(x.offset()) + bufferBytes(x);
}

BufferLiveness bufferLiveness(const proto::DeviceProgram &program) {
  int64_t n = program.buffers_size();
  int64_t count = program.instructions_size();
  BufferLiveness live;
  live.first.assign(n, std::numeric_limits<int64_t>::max());
  live.last.assign(n, -1);
  live.written.assign(n, false);
  live.viewSource.assign(n, -1);
  live.viewsOf.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    const proto::Instruction &instruction = program.instructions(i);
    for (int64_t id : instruction.operands()) {
      live.first[id] = std::min(live.first[id], i);
      live.last[id] = std::max(live.last[id], i);
    }
    for (int64_t id : instruction.results()) {
      live.first[id] = std::min(live.first[id], i);
      live.last[id] = std::max(live.last[id], i);
      live.written[id] = true;
    }
  }
  for (int64_t o : program.output_buffers()) {
    live.first[o] = std::min(live.first[o], count);
    live.last[o] = count;
  }
  // A view nobody writes holds the bytes of the last write to them before
  // it is read: it lives from there.
  for (int64_t b = 0; b < n; ++b) {
    if (program.buffers(b).storage() != proto::Buffer::ARENA ||
        live.written[b] || live.last[b] < 0)
      continue;
    for (int64_t i = std::min(live.first[b], count) - 1; i >= 0; --i) {
      const proto::Instruction &instruction = program.instructions(i);
      if (std::any_of(instruction.results().begin(),
                      instruction.results().end(),
                      [&](int64_t r) { return arenaOverlap(program, r, b); })) {
        live.first[b] = i;
        live.viewSource[b] = i;
        live.viewsOf[i].push_back(b);
        break;
      }
    }
  }
  return live;
}

std::string formatBytes(int64_t bytes) {
  if (bytes >= (1 << 20))
    return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / 1048576.0);
  if (bytes >= 1024)
    return absl::StrFormat("%.1f KiB", static_cast<double>(bytes) / 1024.0);
  return absl::StrFormat("%d B", bytes);
}

bool readOnlyAtLoad(const proto::Buffer &buffer,
                    const std::set<int64_t> &updatedParameters) {
  return buffer.storage() == proto::Buffer::CONSTANT ||
         (buffer.storage() == proto::Buffer::PARAMETER &&
          !updatedParameters.count(buffer.index()));
}

std::vector<bool> runsAtLoad(const proto::DeviceProgram &program,
                             const std::set<int64_t> &updatedParameters,
                             const BufferLiveness &live) {
  std::vector<bool> readOnly(program.buffers_size());
  for (int64_t b = 0; b < program.buffers_size(); ++b)
    readOnly[b] = readOnlyAtLoad(program.buffers(b), updatedParameters);
  std::vector<bool> atLoad(program.instructions_size(), false);
  for (int64_t i = 0; i < program.instructions_size(); ++i) {
    const proto::Instruction &instruction = program.instructions(i);
    if (instruction.op() == "collective" ||
        instruction.op() == "collective_done" ||
        instruction.results().empty() ||
        !std::all_of(instruction.operands().begin(),
                     instruction.operands().end(),
                     [&](int64_t id) { return readOnly[id]; }))
      continue;
    atLoad[i] = true;
    for (int64_t r : instruction.results())
      readOnly[r] = true;
    for (int64_t v : live.viewsOf[i])
      readOnly[v] = true;
  }
  return atLoad;
}

std::vector<bool> readAfterLoad(const proto::DeviceProgram &program,
                                const std::vector<bool> &ranAtLoad) {
  std::vector<bool> read(program.buffers_size(), false);
  for (int64_t i = 0; i < program.instructions_size(); ++i)
    if (i >= static_cast<int64_t>(ranAtLoad.size()) || !ranAtLoad[i])
      for (int64_t id : program.instructions(i).operands())
        read[id] = true;
  for (int64_t id : program.output_buffers())
    read[id] = true;
  return read;
}

namespace {
/// What device program `program` holds (the estimate's parts, no peak):
/// what deviceBytes sums. `live` is its liveness.
MemoryEstimate holdingsOf(const proto::Executable &executable,
                          const proto::DeviceProgram &program,
                          const BufferLiveness &live) {
  MemoryEstimate estimate;
  std::set<int64_t> updatedInputs, updatedParameters;
  for (const proto::StateUpdate &update : executable.state_updates())
    (update.parameter() ? updatedParameters : updatedInputs)
        .insert(update.index());
  std::set<std::pair<int, int64_t>> counted;
  for (const proto::Buffer &buffer : program.buffers()) {
    if ((buffer.storage() != proto::Buffer::INPUT &&
         buffer.storage() != proto::Buffer::PARAMETER) ||
        !counted.insert({buffer.storage(), buffer.index()}).second)
      continue;
    int64_t bytes = bufferBytes(buffer);
    if (buffer.storage() == proto::Buffer::PARAMETER)
      estimate.parameters += bytes;
    else if (updatedInputs.count(buffer.index()))
      estimate.state += bytes;
    else
      estimate.inputs += bytes;
  }
  estimate.arena = static_cast<int64_t>(program.arena_bytes());
  // Load-time results, as the backends compute them.
  std::vector<bool> ran = runsAtLoad(program, updatedParameters, live);
  // Kept for the steps: those the steps read (themselves or through a
  // view).
  std::vector<bool> read = readAfterLoad(program, ran);
  for (int64_t i = 0; i < program.instructions_size(); ++i) {
    if (!ran[i])
      continue;
    const proto::Instruction &instruction = program.instructions(i);
    bool viewRead = std::any_of(live.viewsOf[i].begin(), live.viewsOf[i].end(),
                                [&](int64_t v) { return read[v]; });
    int64_t bytes = 0;
    for (int64_t r : instruction.results())
      if (read[r] || viewRead)
        bytes += bufferBytes(program.buffers(r));
    if (bytes == 0)
      continue;
    estimate.loadTime += bytes;
    estimate.largestLoadTime.push_back(
        {absl::StrCat(instruction.location(), " (", instruction.op(), ")"),
         bytes});
  }
  std::vector<std::pair<std::string, int64_t>> &largest =
      estimate.largestLoadTime;
  std::stable_sort(
      largest.begin(), largest.end(),
      [](const auto &a, const auto &b) { return a.second > b.second; });
  if (largest.size() > 5)
    largest.resize(5);
  return estimate;
}
} // namespace

int64_t deviceBytes(const proto::Executable &executable, int device) {
  if (device < 0 || device >= executable.programs_size())
    return 0;
  const proto::DeviceProgram &program = executable.programs(device);
  return holdingsOf(executable, program, bufferLiveness(program)).total();
}

MemoryEstimate estimateMemory(const proto::Executable &executable, int device) {
  if (device < 0 || device >= executable.programs_size())
    return MemoryEstimate();
  const proto::DeviceProgram &program = executable.programs(device);
  BufferLiveness live = bufferLiveness(program);
  MemoryEstimate estimate = holdingsOf(executable, program, live);
  // Live arena bytes per instruction: the union of the live buffers'
  // bytes (views share their source's).
  std::vector<int64_t> arenaBuffers;
  for (int64_t b = 0; b < program.buffers_size(); ++b)
    if (program.buffers(b).storage() == proto::Buffer::ARENA &&
        live.last[b] >= 0)
      arenaBuffers.push_back(b);
  int64_t count = program.instructions_size();
  for (int64_t i = 0; i < count; ++i) {
    std::vector<std::pair<int64_t, int64_t>> ranges;
    for (int64_t b : arenaBuffers)
      if (live.first[b] <= i && i <= live.last[b]) {
        int64_t begin = static_cast<int64_t>(program.buffers(b).offset());
        ranges.push_back({begin, begin + bufferBytes(program.buffers(b))});
      }
    std::sort(ranges.begin(), ranges.end());
    int64_t bytes = 0, reached = 0;
    for (auto [begin, end] : ranges) {
      begin = std::max(begin, reached);
      if (end > begin)
        bytes += end - begin;
      reached = std::max(reached, end);
    }
    estimate.liveBytes.push_back(bytes);
    if (bytes > estimate.peakLive) {
      estimate.peakLive = bytes;
      estimate.peakInstruction = i;
    }
  }
  if (estimate.peakInstruction < 0)
    return estimate;
  int64_t peak = estimate.peakInstruction;
  estimate.peakAt = program.instructions(peak).location();
  // The tensors live there, named after the instruction that writes them.
  std::vector<std::pair<int64_t, std::string>> tensors;
  for (int64_t b : arenaBuffers) {
    if (live.first[b] > peak || peak > live.last[b] || !live.written[b])
      continue;
    std::string name;
    for (int64_t i = live.first[b]; i < count && name.empty(); ++i) {
      const proto::Instruction &instruction = program.instructions(i);
      if (std::find(instruction.results().begin(), instruction.results().end(),
                    b) != instruction.results().end())
        name = instruction.location();
    }
    tensors.push_back({bufferBytes(program.buffers(b)), name});
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const auto &a, const auto &b) { return a.first > b.first; });
  for (size_t t = 0; t < tensors.size() && t < 5; ++t)
    estimate.largestLive.push_back({tensors[t].second, tensors[t].first});
  return estimate;
}

std::string formatMemoryEstimate(const MemoryEstimate &estimate) {
  std::string text = absl::StrCat(
      "memory per device (from the executable): ",
      formatBytes(estimate.total()), "\n  parameters ",
      formatBytes(estimate.parameters), ", state ", formatBytes(estimate.state),
      ", inputs ", formatBytes(estimate.inputs), ", arena ",
      formatBytes(estimate.arena), ", load-time results ",
      formatBytes(estimate.loadTime), "\n");
  if (!estimate.largestLoadTime.empty()) {
    absl::StrAppend(&text, "  largest load-time results:");
    for (const auto &[name, bytes] : estimate.largestLoadTime)
      absl::StrAppend(&text, "\n    ", formatBytes(bytes), " '", name, "'");
    absl::StrAppend(&text, "\n");
  }
  if (estimate.peakInstruction >= 0) {
    absl::StrAppend(&text, "  arena peak ", formatBytes(estimate.peakLive),
                    " live at instruction ", estimate.peakInstruction);
    if (!estimate.peakAt.empty())
      absl::StrAppend(&text, " ('", estimate.peakAt, "')");
    absl::StrAppend(&text, "; largest live there:");
    for (const auto &[name, bytes] : estimate.largestLive)
      absl::StrAppend(&text, "\n    ", formatBytes(bytes), " ",
                      name.empty() ? std::string("(unnamed)")
                                   : absl::StrCat("'", name, "'"));
    absl::StrAppend(&text, "\n");
  }
  return text;
}

std::vector<CollectiveExplanation>
collectiveExplanations(const proto::Executable &executable) {
  std::vector<CollectiveExplanation> explanations;
  if (executable.programs_size() == 0)
    return explanations;
  const proto::DeviceProgram &program = executable.programs(0);
  for (int64_t i = 0; i < program.instructions_size(); ++i) {
    const proto::Instruction &instruction = program.instructions(i);
    if (instruction.op() != "collective")
      continue;
    const proto::Collective &collective = instruction.collective();
    CollectiveExplanation explanation;
    explanation.instruction = i;
    explanation.kind = kindName(collective);
    if (collective.reduction() != proto::Collective::REDUCTION_UNSPECIFIED)
      absl::StrAppend(
          &explanation.kind, " (",
          lowerCase(proto::Collective::Reduction_Name(collective.reduction())),
          ")");
    explanation.groups = collective.groups_size();
    explanation.members =
        collective.groups_size() > 0 ? collective.groups(0).values_size() : 0;
    explanation.bytesPerDevice = bytesMoved(program, instruction);
    explanation.tensor = instruction.location();
    explanation.reasons.assign(instruction.origins().begin(),
                               instruction.origins().end());
    for (const proto::PlanEntry &remedy : instruction.remedies())
      explanation.remedies.push_back({remedy.tensor(), remedy.spec()});
    explanations.push_back(std::move(explanation));
  }
  return explanations;
}

std::string explainCollectives(const proto::Executable &executable) {
  std::string text = "collectives of a step, in program order (device 0's "
                     "program; every device runs the same):\n";
  std::vector<CollectiveExplanation> explanations =
      collectiveExplanations(executable);
  for (size_t number = 0; number < explanations.size(); ++number) {
    const CollectiveExplanation &c = explanations[number];
    absl::StrAppend(&text,
                    absl::StrFormat("  %d. %s, %d group%s of %d, %s per device",
                                    number + 1, c.kind, c.groups,
                                    c.groups == 1 ? "" : "s", c.members,
                                    formatBytes(c.bytesPerDevice)));
    if (!c.tensor.empty())
      absl::StrAppend(&text, ", tensor '", c.tensor, "'");
    absl::StrAppend(&text, "\n");
    if (c.reasons.empty())
      absl::StrAppend(&text, "     why: not recorded\n");
    // A reason's further lines (where each layout came from) indent
    // under it.
    for (const std::string &origin : c.reasons)
      absl::StrAppend(&text, "     why: ",
                      absl::StrReplaceAll(origin, {{"\n", "\n          "}}),
                      "\n");
  }
  if (explanations.empty())
    absl::StrAppend(&text, "  none\n");
  return text;
}

std::string formatCollectiveCounts(const std::vector<CollectiveCount> &counts) {
  std::string text = "collectives per step (count, bytes per device):\n";
  if (counts.empty())
    return text + "  none\n";
  for (const CollectiveCount &count : counts)
    absl::StrAppend(&text, absl::StrFormat("  %-20s %5d %14d\n", count.kind,
                                           count.count, count.bytesPerDevice));
  return text;
}

} // namespace tessel
