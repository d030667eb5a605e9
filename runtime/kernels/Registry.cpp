//===- Registry.cpp - Host kernels by op name -----------------------------===//

#include <mutex>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/StridedCopy.h"

namespace tessel::kernels {

namespace {
struct Registered {
  KernelFn kernel = nullptr;
  Wide wide = Wide::Refused;
  ChannelsLastRule channelsLast = {nullptr, nullptr, false};
  EpilogueFn epilogue = nullptr;
};
} // namespace

static std::unordered_map<std::string, Registered> &registry() {
  static std::unordered_map<std::string, Registered> kernels;
  return kernels;
}

void registerKernel(const std::string &op, KernelFn kernel, Wide wide) {
  registry()[op].kernel = kernel;
  registry()[op].wide = wide;
}

void registerChannelsLast(const std::string &op, ChannelsLastRule rule) {
  registry()[op].channelsLast = rule;
}

void registerEpilogue(const std::string &op, EpilogueFn takes) {
  registry()[op].epilogue = takes;
}

static const Registered *findRegistered(const std::string &op) {
  static std::once_flag once;
  std::call_once(once, [] {
    registerElementwiseKernels();
    registerContractionKernels();
    registerDataMovementKernels();
    registerNormalizationKernels();
    registerWindowKernels();
    registerSelectionKernels();
  });
  auto it = registry().find(op);
  return it == registry().end() ? nullptr : &it->second;
}

KernelFn findKernel(const std::string &op) {
  const Registered *registered = findRegistered(op);
  return registered ? registered->kernel : nullptr;
}

bool kernelTakesWideTypes(const std::string &op) {
  const Registered *registered = findRegistered(op);
  return registered && registered->wide == Wide::Taken;
}

const ChannelsLastRule *findChannelsLast(const std::string &op) {
  const Registered *registered = findRegistered(op);
  return registered && registered->channelsLast.slots
             ? &registered->channelsLast
             : nullptr;
}

EpilogueFn findEpilogue(const std::string &op) {
  const Registered *registered = findRegistered(op);
  return registered ? registered->epilogue : nullptr;
}

std::vector<int64_t> channelsLastOrder(int64_t rank) {
  std::vector<int64_t> order;
  for (int64_t d = 0; d < rank; ++d)
    if (d != 1)
      order.push_back(d);
  if (rank > 1)
    order.push_back(1);
  return order;
}

void setChannelsLastFlags(const KernelContext &,
                          const std::vector<bool> &operands,
                          const std::vector<bool> &results,
                          proto::Instruction &instruction) {
  proto::Ints &flags =
      *(*instruction.mutable_attributes())["channels_last"].mutable_ints();
  flags.clear_values();
  flags.add_values(operands[0]);
  flags.add_values(results[0]);
}

absl::StatusOr<std::pair<bool, bool>>
channelsLastFlags(const KernelContext &context) {
  if (!context.has("channels_last"))
    return std::make_pair(false, false);
  absl::StatusOr<std::vector<int64_t>> flags = context.getInts("channels_last");
  if (!flags.ok() || flags->size() != 2)
    return context.error("channels_last needs two flags");
  return std::make_pair((*flags)[0] != 0, (*flags)[1] != 0);
}

TensorView channelsLastLogical(const TensorView &view, bool channelsLast) {
  TensorView logical = view;
  // Memory order [N, spatial..., C]: the channels move from the last
  // position to the second (in place: kernels call this every run).
  if (channelsLast && view.rank() > 1)
    std::rotate(logical.dims.begin() + 1, logical.dims.end() - 1,
                logical.dims.end());
  return logical;
}

void copyChannelsLast(const TensorView &logical, const void *from, void *to,
                      bool toChannelsLast) {
  std::vector<int64_t> order = channelsLastOrder(logical.rank());
  std::vector<int64_t> memoryDims(order.size());
  for (size_t p = 0; p < order.size(); ++p)
    memoryDims[p] = logical.dims[order[p]];
  std::vector<int64_t> memoryStrides = denseStrides(memoryDims);
  std::vector<int64_t> lastStrides(order.size());
  for (size_t p = 0; p < order.size(); ++p)
    lastStrides[order[p]] = memoryStrides[p];
  std::vector<int64_t> rowMajor = denseStrides(logical.dims);
  int64_t bytes = byteSize(logical.type);
  if (toChannelsLast)
    stridedCopy(bytes, logical.dims, to, lastStrides, from, rowMajor, 0,
                logical.numElements());
  else
    stridedCopy(bytes, logical.dims, to, rowMajor, from, lastStrides, 0,
                logical.numElements());
}

int64_t TensorView::numElements() const {
  int64_t count = 1;
  for (int64_t dim : dims)
    count *= dim;
  return count;
}

std::vector<int64_t> TensorView::strides() const { return denseStrides(dims); }

static const proto::Attribute *findAttribute(const proto::Instruction &inst,
                                             const std::string &name) {
  auto it = inst.attributes().find(name);
  return it == inst.attributes().end() ? nullptr : &it->second;
}

absl::Status KernelContext::error(const std::string &message) const {
  return absl::InvalidArgumentError(
      absl::StrCat("instruction '", instruction.op(), "' (tensor '",
                   instruction.location(), "'): ", message));
}

absl::StatusOr<int64_t> KernelContext::getInt(const std::string &name) const {
  const proto::Attribute *attribute = findAttribute(instruction, name);
  if (!attribute || attribute->value_case() != proto::Attribute::kI)
    return error(absl::StrCat("needs integer attribute '", name, "'"));
  return attribute->i();
}

absl::StatusOr<double> KernelContext::getFloat(const std::string &name) const {
  const proto::Attribute *attribute = findAttribute(instruction, name);
  if (!attribute || attribute->value_case() != proto::Attribute::kF)
    return error(absl::StrCat("needs float attribute '", name, "'"));
  return attribute->f();
}

absl::StatusOr<std::string>
KernelContext::getString(const std::string &name) const {
  const proto::Attribute *attribute = findAttribute(instruction, name);
  if (!attribute || attribute->value_case() != proto::Attribute::kS)
    return error(absl::StrCat("needs string attribute '", name, "'"));
  return attribute->s();
}

absl::StatusOr<std::vector<int64_t>>
KernelContext::getInts(const std::string &name) const {
  const proto::Attribute *attribute = findAttribute(instruction, name);
  if (!attribute || attribute->value_case() != proto::Attribute::kInts)
    return error(absl::StrCat("needs integer list attribute '", name, "'"));
  return std::vector<int64_t>(attribute->ints().values().begin(),
                              attribute->ints().values().end());
}

absl::Status KernelContext::getIntLists(
    std::initializer_list<std::pair<const char *, std::vector<int64_t> *>>
        fields) const {
  for (auto [name, field] : fields) {
    absl::StatusOr<std::vector<int64_t>> values = getInts(name);
    if (!values.ok())
      return values.status();
    *field = std::move(*values);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>>
KernelContext::getFloats(const std::string &name) const {
  const proto::Attribute *attribute = findAttribute(instruction, name);
  if (!attribute || attribute->value_case() != proto::Attribute::kFloats)
    return error(absl::StrCat("needs float list attribute '", name, "'"));
  return std::vector<double>(attribute->floats().values().begin(),
                             attribute->floats().values().end());
}

} // namespace tessel::kernels
