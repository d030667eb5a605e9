//===- Frontend.cpp - Load a model in any supported format ----------------===//

#include "compiler/frontend/Frontend.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dialects/RegisterDialects.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "onnx/onnx_pb.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

namespace tessel {

std::optional<ModelFormat> modelFormatOf(const std::string &path) {
  llvm::StringRef name(path);
  if (name.ends_with(".onnx"))
    return ModelFormat::Onnx;
  if (name.ends_with(".textproto") || name.ends_with(".pbtxt") ||
      name.ends_with(".onnxtxt"))
    return ModelFormat::OnnxText;
  if (name.ends_with(".mlir") || name.ends_with(".mlirbc"))
    return ModelFormat::Mlir;
  return std::nullopt;
}

namespace {
/// Keeps the first protobuf text-format error instead of logging them.
struct TextErrors : google::protobuf::io::ErrorCollector {
  void AddError(int line, int column, const std::string &message) override {
    if (first.empty())
      first = std::to_string(line + 1) + ":" + std::to_string(column + 1) +
              ": " + message;
  }
  std::string first;
};
} // namespace

static std::string directoryOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

/// All of Tessel's dialects and interfaces, so that later stages
/// (propagation, lowering) can load what they need into `context`.
static void registerAllDialects(mlir::MLIRContext &context) {
  mlir::DialectRegistry registry;
  registerTesselDialects(registry);
  context.appendDialectRegistry(registry);
}

static mlir::LogicalResult checkMlirOptions(mlir::Location loc,
                                            const OnnxImportOptions &options) {
  if (options.inputShapes.empty())
    return mlir::success();
  return mlir::emitError(loc)
         << "--input-shape applies to ONNX models; MLIR input already has "
            "static shapes";
}

static mlir::FailureOr<LoadedModel>
fromImported(mlir::FailureOr<ImportedModel> imported) {
  if (failed(imported))
    return mlir::failure();
  LoadedModel loaded;
  loaded.module = std::move(imported->module);
  loaded.imported = std::move(*imported);
  return loaded;
}

mlir::FailureOr<LoadedModel>
loadModelFromMemory(bool onnx, const std::string &contents,
                    const std::string &name, mlir::MLIRContext &context,
                    llvm::SourceMgr &sourceMgr,
                    const OnnxImportOptions &options) {
  mlir::Location loc = mlir::FileLineColLoc::get(&context, name, 0, 0);
  registerAllDialects(context);
  if (!onnx) {
    if (failed(checkMlirOptions(loc, options)))
      return mlir::failure();
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(contents, name), llvm::SMLoc());
    LoadedModel loaded;
    loaded.module = mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &context);
    if (!loaded.module)
      return mlir::failure();
    return loaded;
  }
  auto model = std::make_shared<onnx::ModelProto>();
  if (!model->ParseFromString(contents))
    return mlir::emitError(loc)
           << "the bytes do not parse as an ONNX ModelProto";
  return fromImported(
      importOnnxModel(std::move(model), ".", name, context, options));
}

mlir::FailureOr<LoadedModel> loadModel(const std::string &path,
                                       mlir::MLIRContext &context,
                                       llvm::SourceMgr &sourceMgr,
                                       const OnnxImportOptions &options) {
  mlir::Location loc = mlir::FileLineColLoc::get(&context, path, 0, 0);
  std::optional<ModelFormat> format = modelFormatOf(path);
  if (!format)
    return mlir::emitError(loc)
           << "unknown model format: expected .onnx, .textproto/.pbtxt "
              "(ONNX as protobuf text) or .mlir";
  registerAllDialects(context);
  LoadedModel loaded;
  if (*format == ModelFormat::Mlir) {
    if (failed(checkMlirOptions(loc, options)))
      return mlir::failure();
    loaded.module =
        mlir::parseSourceFile<mlir::ModuleOp>(path, sourceMgr, &context);
    if (!loaded.module)
      return mlir::failure();
    return loaded;
  }
  mlir::FailureOr<ImportedModel> imported = mlir::failure();
  if (*format == ModelFormat::Onnx) {
    imported = importOnnxFile(path, context, options);
  } else {
    std::ifstream in(path);
    if (!in)
      return mlir::emitError(loc) << "cannot open the model";
    std::stringstream text;
    text << in.rdbuf();
    auto model = std::make_shared<onnx::ModelProto>();
    TextErrors errors;
    google::protobuf::TextFormat::Parser parser;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(text.str(), model.get()))
      return mlir::emitError(loc)
             << "the file does not parse as an ONNX ModelProto in protobuf "
                "text format: "
             << errors.first;
    imported = importOnnxModel(std::move(model), directoryOf(path), path,
                               context, options);
  }
  return fromImported(std::move(imported));
}

absl::StatusOr<std::map<std::string, std::vector<int64_t>>>
parseInputShapes(llvm::ArrayRef<std::string> values) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const std::string &value : values) {
    for (absl::string_view entry :
         absl::StrSplit(value, ',', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> parts =
          absl::StrSplit(entry, absl::MaxSplits('=', 1));
      std::vector<int64_t> dims;
      bool valid = !parts.first.empty() && !parts.second.empty();
      for (absl::string_view dim : absl::StrSplit(parts.second, 'x')) {
        int64_t size;
        valid &= absl::SimpleAtoi(dim, &size) && size >= 0;
        dims.push_back(size);
      }
      if (!valid)
        return absl::InvalidArgumentError(absl::StrCat(
            "--input-shape '", entry,
            "' is not of the form name=d0xd1x... with sizes of 0 or more"));
      if (!shapes.emplace(std::string(parts.first), dims).second)
        return absl::InvalidArgumentError(
            absl::StrCat("--input-shape gives '", parts.first, "' twice"));
    }
  }
  return shapes;
}

} // namespace tessel
