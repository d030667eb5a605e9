//===- SpmdAttrs.cpp - Meshes, shardings and sharding rules ---------------===//

#include <set>

#include "dialects/spmd/SpmdDialect.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

#define GET_ATTRDEF_CLASSES
#include "dialects/spmd/SpmdAttrs.cpp.inc"

namespace tessel::spmd {

void SpmdDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/spmd/SpmdAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// MeshAttr
//===----------------------------------------------------------------------===//

std::optional<int64_t> MeshAttr::axisSize(llvm::StringRef name) const {
  for (MeshAxisAttr axis : getAxes())
    if (axis.getName() == name)
      return axis.getSize();
  return std::nullopt;
}

int64_t totalSize(llvm::ArrayRef<AxisRefAttr> axes, MeshAttr mesh) {
  int64_t total = 1;
  for (AxisRefAttr axis : axes)
    total *= axis.size(mesh);
  return total;
}

std::string axisName(AxisRefAttr axis) {
  std::string name = axis.getName().str();
  if (axis.isSubAxis())
    name += ":(" + std::to_string(axis.getPreSize()) + ")" +
            std::to_string(axis.getSubSize());
  return name;
}

std::vector<std::string> namesOf(mlir::ArrayAttr names) {
  std::vector<std::string> result;
  for (mlir::Attribute name : names)
    result.push_back(mlir::cast<mlir::StringAttr>(name).str());
  return result;
}

AxisRefAttr parseAxisName(mlir::MLIRContext *context, llvm::StringRef name) {
  size_t colon = name.find(":(");
  if (colon == llvm::StringRef::npos)
    return name.empty() ? AxisRefAttr() : AxisRefAttr::get(context, name, 0, 0);
  llvm::StringRef rest = name.drop_front(colon + 2);
  auto [pre, sub] = rest.split(')');
  int64_t preSize = 0, subSize = 0;
  if (colon == 0 || pre.getAsInteger(10, preSize) ||
      sub.getAsInteger(10, subSize) || preSize < 1 || subSize < 1)
    return {};
  return AxisRefAttr::get(context, name.take_front(colon), preSize, subSize);
}

bool overlapsAny(AxisRefAttr axis, llvm::ArrayRef<AxisRefAttr> axes) {
  return llvm::any_of(axes,
                      [&](AxisRefAttr other) { return axis.overlaps(other); });
}

int64_t DimensionShardingAttr::numParts(MeshAttr mesh) const {
  return totalSize(getAxes(), mesh);
}

int64_t MeshAttr::numDevices() const {
  int64_t devices = 1;
  for (MeshAxisAttr axis : getAxes())
    devices *= axis.getSize();
  return devices;
}

Attribute MeshAttr::parse(AsmParser &parser, Type) {
  SmallVector<MeshAxisAttr> axes;
  SmallVector<int64_t> deviceIds;
  if (parser.parseLess() ||
      parser.parseCommaSeparatedList(
          AsmParser::Delimiter::Square, [&]() -> ParseResult {
            std::string name;
            int64_t size;
            if (parser.parseString(&name) || parser.parseEqual() ||
                parser.parseInteger(size))
              return failure();
            axes.push_back(MeshAxisAttr::get(parser.getContext(), name, size));
            return success();
          }))
    return {};
  if (succeeded(parser.parseOptionalComma())) {
    if (parser.parseKeyword("device_ids") || parser.parseEqual() ||
        parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
          return parser.parseInteger(deviceIds.emplace_back());
        }))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return MeshAttr::getChecked(
      [&] { return parser.emitError(parser.getNameLoc()); },
      parser.getContext(), axes, deviceIds);
}

void MeshAttr::print(AsmPrinter &printer) const {
  printer << "<[";
  llvm::interleaveComma(getAxes(), printer, [&](MeshAxisAttr axis) {
    printer << '"' << axis.getName() << "\"=" << axis.getSize();
  });
  printer << "]";
  if (!getDeviceIds().empty()) {
    printer << ", device_ids=[";
    llvm::interleaveComma(getDeviceIds(), printer);
    printer << "]";
  }
  printer << ">";
}

LogicalResult MeshAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               ArrayRef<MeshAxisAttr> axes,
                               ArrayRef<int64_t> deviceIds) {
  std::set<std::string> names;
  int64_t devices = 1;
  for (MeshAxisAttr axis : axes) {
    if (axis.getName().empty())
      return emitError() << "a mesh axis needs a name";
    if (!names.insert(axis.getName().str()).second)
      return emitError() << "mesh axis \"" << axis.getName()
                         << "\" is declared twice";
    if (axis.getSize() < 1)
      return emitError() << "mesh axis \"" << axis.getName() << "\" has size "
                         << axis.getSize() << ", must be at least 1";
    devices *= axis.getSize();
  }
  if (!deviceIds.empty()) {
    if (static_cast<int64_t>(deviceIds.size()) != devices)
      return emitError() << "device_ids has " << deviceIds.size()
                         << " entries for a mesh of " << devices << " devices";
    std::vector<int64_t> sorted(deviceIds.begin(), deviceIds.end());
    llvm::sort(sorted);
    for (int64_t i = 0; i < devices; ++i)
      if (sorted[i] != i)
        return emitError() << "device_ids must be a permutation of 0.."
                           << devices - 1;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AxisRefAttr
//===----------------------------------------------------------------------===//

/// `"x"` or `"x":(pre)size`. Where a colon may also follow an axis (a
/// partial axis' reduction), `colonFollows` is set when it was not a
/// sub-axis' colon.
static ParseResult parseAxisRef(AsmParser &parser, AxisRefAttr &axis,
                                bool *colonFollows = nullptr) {
  std::string name;
  if (parser.parseString(&name))
    return failure();
  int64_t preSize = 0, subSize = 0;
  if (succeeded(parser.parseOptionalColon())) {
    if (colonFollows && failed(parser.parseOptionalLParen())) {
      *colonFollows = true;
    } else if ((!colonFollows && parser.parseLParen()) ||
               parser.parseInteger(preSize) || parser.parseRParen() ||
               parser.parseInteger(subSize)) {
      return failure();
    }
  }
  axis = AxisRefAttr::get(parser.getContext(), name, preSize, subSize);
  return success();
}

static void printAxisRef(AsmPrinter &printer, AxisRefAttr axis) {
  printer << '"' << axis.getName() << '"';
  if (axis.isSubAxis())
    printer << ":(" << axis.getPreSize() << ")" << axis.getSubSize();
}

Attribute AxisRefAttr::parse(AsmParser &parser, Type) {
  AxisRefAttr axis;
  if (parser.parseLess() || parseAxisRef(parser, axis) || parser.parseGreater())
    return {};
  return axis;
}

void AxisRefAttr::print(AsmPrinter &printer) const {
  printer << "<";
  printAxisRef(printer, *this);
  printer << ">";
}

int64_t AxisRefAttr::size(MeshAttr mesh) const {
  if (isSubAxis())
    return getSubSize();
  return mesh.axisSize(getName()).value_or(1);
}

bool AxisRefAttr::overlaps(AxisRefAttr other) const {
  if (getName() != other.getName())
    return false;
  if (!isSubAxis() || !other.isSubAxis())
    return true;
  // Sub-axes [pre, pre * size) in the axis' factorisation.
  int64_t begin = getPreSize(), end = getPreSize() * getSubSize();
  int64_t otherBegin = other.getPreSize(),
          otherEnd = other.getPreSize() * other.getSubSize();
  return begin < otherEnd && otherBegin < end;
}

//===----------------------------------------------------------------------===//
// DimensionShardingAttr
//===----------------------------------------------------------------------===//

static ParseResult parseDimension(AsmParser &parser,
                                  DimensionShardingAttr &dimension) {
  SmallVector<AxisRefAttr> axes;
  bool open = false;
  if (parser.parseLBrace())
    return failure();
  if (failed(parser.parseOptionalRBrace())) {
    do {
      if (succeeded(parser.parseOptionalQuestion())) {
        open = true;
        break;
      }
      if (parseAxisRef(parser, axes.emplace_back()))
        return failure();
    } while (succeeded(parser.parseOptionalComma()));
    if (parser.parseRBrace())
      return failure();
  }
  int64_t priority = -1;
  StringRef keyword;
  if (succeeded(parser.parseOptionalKeyword(&keyword))) {
    if (!keyword.starts_with("p") ||
        keyword.drop_front().getAsInteger(10, priority))
      return parser.emitError(parser.getCurrentLocation(),
                              "expected a priority like p0, got ")
             << keyword;
  }
  dimension =
      DimensionShardingAttr::get(parser.getContext(), axes, !open, priority);
  return success();
}

static void printDimension(AsmPrinter &printer,
                           DimensionShardingAttr dimension) {
  printer << "{";
  llvm::interleaveComma(dimension.getAxes(), printer,
                        [&](AxisRefAttr axis) { printAxisRef(printer, axis); });
  if (!dimension.getIsClosed())
    printer << (dimension.getAxes().empty() ? "?" : ", ?");
  printer << "}";
  if (dimension.getPriority() >= 0)
    printer << "p" << dimension.getPriority();
}

Attribute DimensionShardingAttr::parse(AsmParser &parser, Type) {
  DimensionShardingAttr dimension;
  if (parser.parseLess() || parseDimension(parser, dimension) ||
      parser.parseGreater())
    return {};
  return dimension;
}

void DimensionShardingAttr::print(AsmPrinter &printer) const {
  printer << "<";
  printDimension(printer, *this);
  printer << ">";
}

//===----------------------------------------------------------------------===//
// ShardingAttr
//===----------------------------------------------------------------------===//

Attribute ShardingAttr::parse(AsmParser &parser, Type) {
  FlatSymbolRefAttr mesh;
  SmallVector<DimensionShardingAttr> dims;
  SmallVector<AxisRefAttr> replicated;
  SmallVector<PartialAxisAttr> partial;
  if (parser.parseLess() || parser.parseAttribute(mesh) ||
      parser.parseComma() ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
        return parseDimension(parser, dims.emplace_back());
      }))
    return {};
  while (succeeded(parser.parseOptionalComma())) {
    StringRef keyword;
    if (parser.parseKeyword(&keyword) || parser.parseEqual())
      return {};
    if (keyword == "replicated") {
      if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Braces, [&]() {
            return parseAxisRef(parser, replicated.emplace_back());
          }))
        return {};
    } else if (keyword == "partial") {
      if (parser.parseCommaSeparatedList(
              AsmParser::Delimiter::Braces, [&]() -> ParseResult {
                AxisRefAttr axis;
                StringRef reduction;
                bool colon = false;
                if (parseAxisRef(parser, axis, &colon) ||
                    (!colon && parser.parseColon()) ||
                    parser.parseKeyword(&reduction))
                  return failure();
                partial.push_back(
                    PartialAxisAttr::get(parser.getContext(), axis, reduction));
                return success();
              }))
        return {};
    } else {
      parser.emitError(parser.getCurrentLocation(),
                       "expected 'replicated' or 'partial', got ")
          << keyword;
      return {};
    }
  }
  if (parser.parseGreater())
    return {};
  return ShardingAttr::get(parser.getContext(), mesh, dims, replicated,
                           partial);
}

void ShardingAttr::print(AsmPrinter &printer) const {
  printer << "<" << getMesh() << ", [";
  llvm::interleaveComma(getDims(), printer, [&](DimensionShardingAttr dim) {
    printDimension(printer, dim);
  });
  printer << "]";
  if (!getReplicated().empty()) {
    printer << ", replicated={";
    llvm::interleaveComma(getReplicated(), printer, [&](AxisRefAttr axis) {
      printAxisRef(printer, axis);
    });
    printer << "}";
  }
  if (!getPartial().empty()) {
    printer << ", partial={";
    llvm::interleaveComma(getPartial(), printer, [&](PartialAxisAttr axis) {
      printAxisRef(printer, axis.getAxis());
      printer << ": " << axis.getReduction();
    });
    printer << "}";
  }
  printer << ">";
}

ShardingAttr ShardingAttr::getOpen(MLIRContext *context, FlatSymbolRefAttr mesh,
                                   int64_t rank) {
  SmallVector<DimensionShardingAttr> dims(
      rank, DimensionShardingAttr::get(context, {}, /*isClosed=*/false, -1));
  return get(context, mesh, dims, {}, {});
}

LogicalResult
ShardingAttr::verifyFor(int64_t rank, MeshAttr mesh,
                        function_ref<InFlightDiagnostic()> emitError) const {
  if (static_cast<int64_t>(getDims().size()) != rank)
    return emitError() << "sharding has " << getDims().size()
                       << " dimensions but the tensor has rank " << rank;
  SmallVector<std::pair<AxisRefAttr, StringRef>> used;
  auto use = [&](AxisRefAttr axis, StringRef where) -> LogicalResult {
    std::optional<int64_t> size = mesh.axisSize(axis.getName());
    if (!size)
      return emitError() << "unknown axis \"" << axis.getName() << "\" in mesh "
                         << getMesh();
    if (axis.isSubAxis() &&
        (axis.getPreSize() < 1 || axis.getSubSize() < 2 ||
         *size % (axis.getPreSize() * axis.getSubSize()) != 0))
      return emitError() << "sub-axis \"" << axis.getName() << "\":("
                         << axis.getPreSize() << ")" << axis.getSubSize()
                         << " does not divide axis \"" << axis.getName()
                         << "\" of size " << *size;
    for (auto [other, otherWhere] : used)
      if (axis.overlaps(other)) {
        if (where != otherWhere &&
            (where == "partial" || otherWhere == "partial"))
          return emitError()
                 << "axis \"" << axis.getName() << "\" is both partial and "
                 << (where == "partial" ? otherWhere : where);
        return emitError() << "axis \"" << axis.getName() << "\" is used twice";
      }
    used.push_back({axis, where});
    return success();
  };
  for (DimensionShardingAttr dim : getDims()) {
    for (AxisRefAttr axis : dim.getAxes())
      if (failed(use(axis, "sharding")))
        return failure();
    if (dim.getPriority() < -1)
      return emitError() << "priorities are p0, p1, ...";
  }
  for (AxisRefAttr axis : getReplicated())
    if (failed(use(axis, "replicated")))
      return failure();
  for (PartialAxisAttr partial : getPartial()) {
    if (partial.getReduction() != "sum" && partial.getReduction() != "max" &&
        partial.getReduction() != "min")
      return emitError() << "partial axis \"" << partial.getAxis().getName()
                         << "\" has reduction '" << partial.getReduction()
                         << "'; expected sum, max or min";
    if (failed(use(partial.getAxis(), "partial")))
      return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// OpShardingRuleAttr
//===----------------------------------------------------------------------===//

/// Factor names: i..z, then z_1, z_2, ...
static std::string factorName(int64_t index) {
  if (index < 18)
    return std::string(1, static_cast<char>('i' + index));
  return "z_" + std::to_string(index - 17);
}

/// Splits a run of factor names ("ij", "iz_1k") into names.
static SmallVector<std::string> splitFactorNames(StringRef text) {
  SmallVector<std::string> names;
  while (!text.empty()) {
    std::string name(1, text.front());
    text = text.drop_front();
    if (text.starts_with("_")) {
      size_t digits = 1;
      while (digits < text.size() && llvm::isDigit(text[digits]))
        ++digits;
      name += text.take_front(digits).str();
      text = text.drop_front(digits);
    }
    names.push_back(name);
  }
  return names;
}

static ParseResult
parseMappings(AsmParser &parser,
              SmallVector<SmallVector<SmallVector<std::string>>> &tensors) {
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren, [&]() {
    auto &tensor = tensors.emplace_back();
    return parser.parseCommaSeparatedList(
        AsmParser::Delimiter::Square, [&]() -> ParseResult {
          auto &dim = tensor.emplace_back();
          StringRef word;
          if (succeeded(parser.parseOptionalKeyword(&word)))
            dim = splitFactorNames(word);
          return success();
        });
  });
}

Attribute OpShardingRuleAttr::parse(AsmParser &parser, Type) {
  SmallVector<SmallVector<SmallVector<std::string>>> operands, results;
  if (parser.parseLess() || parseMappings(parser, operands) ||
      parser.parseArrow() || parseMappings(parser, results))
    return {};
  SmallVector<std::string> names;
  SmallVector<int64_t> sizes;
  if (parser.parseCommaSeparatedList(
          AsmParser::Delimiter::Braces, [&]() -> ParseResult {
            StringRef name;
            if (parser.parseKeyword(&name) || parser.parseEqual() ||
                parser.parseInteger(sizes.emplace_back()))
              return failure();
            names.push_back(name.str());
            return success();
          }))
    return {};
  auto indexOf = [&](const std::string &name) -> int64_t {
    auto it = llvm::find(names, name);
    return it == names.end() ? -1 : it - names.begin();
  };
  SmallVector<int64_t> lists[3];
  const char *listNames[3] = {"reduction", "need_replication", "permutation"};
  while (succeeded(parser.parseOptionalComma())) {
    StringRef keyword;
    if (parser.parseKeyword(&keyword) || parser.parseEqual())
      return {};
    int which = -1;
    for (int i = 0; i < 3; ++i)
      if (keyword == listNames[i])
        which = i;
    if (which < 0) {
      parser.emitError(parser.getCurrentLocation(), "unknown factor kind ")
          << keyword;
      return {};
    }
    if (parser.parseCommaSeparatedList(
            AsmParser::Delimiter::Braces, [&]() -> ParseResult {
              StringRef name;
              if (parser.parseKeyword(&name))
                return failure();
              int64_t index = indexOf(name.str());
              if (index < 0)
                return parser.emitError(parser.getCurrentLocation(),
                                        "unknown factor ")
                       << name;
              lists[which].push_back(index);
              return success();
            }))
      return {};
  }
  if (parser.parseGreater())
    return {};
  Builder builder(parser.getContext());
  auto toAttr = [&](auto &tensors) -> ArrayAttr {
    SmallVector<Attribute> tensorAttrs;
    for (auto &tensor : tensors) {
      SmallVector<Attribute> dims;
      for (auto &dim : tensor) {
        SmallVector<int64_t> factors;
        for (const std::string &name : dim) {
          int64_t index = indexOf(name);
          if (index < 0) {
            parser.emitError(parser.getNameLoc(), "factor ")
                << name << " has no size";
            return nullptr;
          }
          factors.push_back(index);
        }
        dims.push_back(builder.getDenseI64ArrayAttr(factors));
      }
      tensorAttrs.push_back(builder.getArrayAttr(dims));
    }
    return builder.getArrayAttr(tensorAttrs);
  };
  ArrayAttr operandAttr = toAttr(operands), resultAttr = toAttr(results);
  if (!operandAttr || !resultAttr)
    return {};
  return OpShardingRuleAttr::get(parser.getContext(), sizes, operandAttr,
                                 resultAttr, lists[0], lists[1], lists[2]);
}

void OpShardingRuleAttr::print(AsmPrinter &printer) const {
  auto printTensors = [&](ArrayAttr tensors) {
    printer << "(";
    llvm::interleaveComma(tensors, printer, [&](Attribute tensor) {
      printer << "[";
      llvm::interleaveComma(
          mlir::cast<ArrayAttr>(tensor), printer, [&](Attribute dim) {
            for (int64_t f : mlir::cast<DenseI64ArrayAttr>(dim).asArrayRef())
              printer << factorName(f);
          });
      printer << "]";
    });
    printer << ")";
  };
  printer << "<";
  printTensors(getOperandMappings());
  printer << "->";
  printTensors(getResultMappings());
  printer << " {";
  llvm::interleaveComma(
      llvm::seq<int64_t>(0, getFactorSizes().size()), printer, [&](int64_t f) {
        printer << factorName(f) << "=" << getFactorSizes()[f];
      });
  printer << "}";
  const std::pair<const char *, ArrayRef<int64_t>> lists[] = {
      {"reduction", getReductionFactors()},
      {"need_replication", getNeedReplicationFactors()},
      {"permutation", getPermutationFactors()}};
  for (auto [name, factors] : lists) {
    if (factors.empty())
      continue;
    printer << ", " << name << "={";
    llvm::interleaveComma(factors, printer,
                          [&](int64_t f) { printer << factorName(f); });
    printer << "}";
  }
  printer << ">";
}

SmallVector<int64_t> OpShardingRuleAttr::factorsOf(bool isResult, int64_t index,
                                                   int64_t dim) const {
  ArrayAttr tensors = isResult ? getResultMappings() : getOperandMappings();
  auto dims = mlir::cast<ArrayAttr>(tensors[index]);
  return llvm::to_vector(mlir::cast<DenseI64ArrayAttr>(dims[dim]).asArrayRef());
}

bool OpShardingRuleAttr::isReduction(int64_t factor) const {
  return llvm::is_contained(getReductionFactors(), factor);
}
bool OpShardingRuleAttr::isNeedReplication(int64_t factor) const {
  return llvm::is_contained(getNeedReplicationFactors(), factor);
}
bool OpShardingRuleAttr::isPermutation(int64_t factor) const {
  return llvm::is_contained(getPermutationFactors(), factor);
}

//===----------------------------------------------------------------------===//
// Lookup and verification helpers
//===----------------------------------------------------------------------===//

FailureOr<MeshAttr> lookupMesh(Operation *op, FlatSymbolRefAttr mesh) {
  auto meshOp = SymbolTable::lookupNearestSymbolFrom<MeshOp>(op, mesh);
  if (!meshOp)
    return op->emitError() << "unknown mesh " << mesh;
  return meshOp.getMesh();
}

LogicalResult verifySharding(Operation *op, ShardingAttr sharding, Type type) {
  auto tensor = mlir::dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return op->emitError() << "a sharding needs a ranked tensor, got " << type;
  FailureOr<MeshAttr> mesh = lookupMesh(op, sharding.getMesh());
  if (failed(mesh))
    return failure();
  return sharding.verifyFor(tensor.getRank(), *mesh,
                            [&] { return op->emitError(); });
}

} // namespace tessel::spmd
