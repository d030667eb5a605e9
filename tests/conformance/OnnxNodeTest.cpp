//===- OnnxNodeTest.cpp - ONNX's own node tests through Tessel ------------===//
//
// Runs the ONNX backend node tests shipped by Debian's libonnx-testdata
// (model.onnx, test_data_set_*/input_*.pb, output_*.pb) through the
// importer, the lowering and the host runtime, and compares with ONNX's
// expected outputs. A test is *supported* when every op of its graph is one
// the importer handles and every tensor has an element type Tessel has; the
// others are listed with the reason, not silently skipped.
//
// Supported tests that fail must be listed in known_failures.txt with the
// reason; a new failure fails this test, and so does a listed test that now
// passes (so that the list only shrinks).
//
//===----------------------------------------------------------------------===//

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler/driver/Compiler.h"
#include "compiler/import/onnx/OnnxImporter.h"
#include "compiler/import/onnx/StaticTensor.h"
#include "compiler/plan/Plan.h"
#include "dialects/graph/GraphDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "onnx/onnx_pb.h"
#include "runtime/Backend.h"
#include "runtime/cuda/HostEmulation.h"
#include "runtime/host/HostBackend.h"
#include "runtime/kernels/ElementTypes.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

const char kNodeTests[] = "/usr/share/libonnx-testdata/data/node";

std::vector<std::string> listDirectory(const std::string &path,
                                       const std::string &prefix) {
  std::vector<std::string> names;
  if (DIR *dir = opendir(path.c_str())) {
    while (dirent *entry = readdir(dir)) {
      std::string name = entry->d_name;
      if (name.rfind(prefix, 0) == 0)
        names.push_back(name);
    }
    closedir(dir);
  }
  std::sort(names.begin(), names.end());
  return names;
}

template <typename Message>
bool readProto(const std::string &path, Message &message) {
  std::ifstream in(path, std::ios::binary);
  return in && message.ParseFromIstream(&in);
}

bool isSupportedType(int32_t type) {
  return onnx_import::runtimeElementType(type).has_value();
}

/// Test data stores bfloat16 tensors as uint16 bits: a uint16 tensor is
/// bfloat16 where the model declares bfloat16 (`declared`).
absl::StatusOr<onnx_import::StaticTensor>
decodeTestTensor(onnx::TensorProto tensor, const std::string &directory,
                 int32_t declared) {
  if (tensor.data_type() == onnx::TensorProto::UINT16 &&
      declared == onnx::TensorProto::BFLOAT16)
    tensor.set_data_type(onnx::TensorProto::BFLOAT16);
  return onnx_import::decodeTensor(tensor, directory);
}

/// The element type the model declares for graph input or output `name`.
int32_t declaredType(const onnx::ModelProto &model, const std::string &name) {
  for (const auto *values : {&model.graph().input(), &model.graph().output()})
    for (const onnx::ValueInfoProto &value : *values)
      if (value.name() == name)
        return value.type().tensor_type().elem_type();
  return onnx::TensorProto::UNDEFINED;
}

/// Inputs that ONNX ops take as data but Tessel needs at import time
/// (shapes, axes, pads, scales...), by op: the tests feed them as graph
/// inputs; the runner pins them to the test data's values, as a user pins
/// them with constants.
const std::map<std::string, std::set<int>> &importTimeInputs() {
  static const std::map<std::string, std::set<int>> inputs = {
      {"Reshape", {1}},        {"Expand", {1}},     {"Tile", {1}},
      {"Slice", {1, 2, 3, 4}}, {"Squeeze", {1}},    {"Unsqueeze", {1}},
      {"Split", {1}},          {"ReduceSum", {1}},  {"Pad", {1, 2}},
      {"Resize", {1, 2, 3}},   {"Upsample", {1}},   {"ConstantOfShape", {0}},
      {"Range", {0, 1, 2}},    {"Dropout", {1, 2}}, {"Trilu", {1}},
      {"OneHot", {1}},         {"TopK", {1}},
      {"MelWeightMatrix", {3, 4}}, {"MaxUnpool", {2}}};
  return inputs;
}

std::set<std::string> importTimeInputNames(const onnx::ModelProto &model) {
  std::set<std::string> names;
  // Integer scalars feed shape arithmetic (a window's size, a count).
  for (const onnx::ValueInfoProto &input : model.graph().input()) {
    const onnx::TypeProto::Tensor &type = input.type().tensor_type();
    if ((type.elem_type() == onnx::TensorProto::INT64 ||
         type.elem_type() == onnx::TensorProto::INT32) &&
        type.has_shape() && type.shape().dim_size() == 0)
      names.insert(input.name());
  }
  for (const onnx::NodeProto &node : model.graph().node()) {
    auto positions = importTimeInputs().find(node.op_type());
    if (positions == importTimeInputs().end())
      continue;
    for (int position : positions->second)
      if (position < node.input_size() && !node.input(position).empty())
        names.insert(node.input(position));
  }
  return names;
}

/// Why the test is not supported, or "" if it is.
std::string unsupportedReason(const onnx::ModelProto &model) {
  for (const onnx::OperatorSetIdProto &import : model.opset_import())
    if ((import.domain().empty() || import.domain() == "ai.onnx") &&
        import.version() < 9)
      return "opset below 9";
  for (const onnx::NodeProto &node : model.graph().node()) {
    if (!isSupportedOnnxOp(node.op_type(), node.domain()))
      return node.domain().empty() || node.domain() == "ai.onnx"
                 ? "op " + node.op_type()
                 : "domain " + node.domain() + " op " + node.op_type();
  }
  for (const auto *values : {&model.graph().input(), &model.graph().output()})
    for (const onnx::ValueInfoProto &value : *values) {
      if (!value.type().has_tensor_type())
        return "non-tensor value";
      int32_t type = value.type().tensor_type().elem_type();
      if (!isSupportedType(type))
        return "element type " + onnx_import::dataTypeName(type);
    }
  return "";
}

struct Outcome {
  bool passed = false;
  std::string detail;
  /// The partitioner reported the case as unsupported (a clear compile
  /// error), no input can be split, or the backend has no kernel for an op
  /// (a clear load error).
  bool skipped = false;
};

/// Splits every input over a mesh of `devices` devices along its first
/// dimension they divide (for 3 devices: the first they do not divide, so
/// that parts are padded), else its first of more than one element; false
/// if no input has one.
bool splitInputs(ImportedModel &imported, int devices) {
  // devices == 0 means a 2x2 mesh: the first even dimension over x, the
  // last other even one over y.
  bool twoAxes = devices == 0;
  if (twoAxes)
    devices = 2;
  proto::Plan plan;
  proto::PlanMesh::Axis *axis = plan.mutable_mesh()->add_axes();
  axis->set_name("x");
  axis->set_size(devices);
  if (twoAxes) {
    proto::PlanMesh::Axis *second = plan.mutable_mesh()->add_axes();
    second->set_name("y");
    second->set_size(2);
  }
  auto function = *imported.module->getOps<mlir::func::FuncOp>().begin();
  for (mlir::BlockArgument argument : function.getArguments()) {
    auto type = mlir::dyn_cast<mlir::RankedTensorType>(argument.getType());
    auto name = function.getArgAttrOfType<mlir::StringAttr>(
        argument.getArgNumber(), graph::GraphDialect::kNameAttr);
    if (!type || !name ||
        function.getArgAttr(argument.getArgNumber(),
                            graph::GraphDialect::kParameterAttr))
      continue;
    // The first dimension of even size is split; over 3 devices, the
    // first of uneven size. Failing that, the first of more than one
    // element (padded).
    int64_t split = -1;
    for (int64_t d = 0; d < type.getRank() && split < 0; ++d)
      if (type.getDimSize(d) > 0 &&
          (type.getDimSize(d) % devices == 0) == (devices != 3))
        split = d;
    for (int64_t d = 0; d < type.getRank() && split < 0; ++d)
      if (type.getDimSize(d) > 1)
        split = d;
    if (split < 0)
      continue;
    std::vector<std::string> dims(type.getRank(), "null");
    dims[split] = "\"x\"";
    if (twoAxes)
      for (int64_t d = type.getRank() - 1; d > split; --d)
        if (type.getDimSize(d) > 0 && type.getDimSize(d) % 2 == 0) {
          dims[d] = "\"y\"";
          break;
        }
    proto::TensorPlan *tensor = plan.add_tensors();
    tensor->set_name(name.str());
    tensor->set_spec("[" + absl::StrJoin(dims, ", ") + "]");
  }
  if (plan.tensors_size() == 0)
    return false;
  return succeeded(applyPlan(*imported.module, plan, proto::PlanMesh())) &&
         succeeded(propagateShardings(*imported.module));
}

/// Imports, compiles and runs one test; compares with every data set. With
/// `devices` > 1, the inputs are split over that many devices first (0: a
/// 2x2 mesh, see splitInputs). `backend`: where to run (null: the host).
Outcome runTest(const std::string &directory, mlir::MLIRContext &context,
                int devices = 1, Backend *backend = nullptr) {
  bool partition = devices != 1;
  auto model = std::make_shared<onnx::ModelProto>();
  if (!readProto(directory + "/model.onnx", *model))
    return {false, "model.onnx does not parse"};
  std::vector<std::string> dataSets =
      listDirectory(directory, "test_data_set_");
  if (dataSets.empty())
    return {false, "no test data"};
  // Inputs are the graph inputs that are not initializers.
  std::set<std::string> initializers;
  for (const onnx::TensorProto &tensor : model->graph().initializer())
    initializers.insert(tensor.name());
  std::vector<std::string> inputNames;
  for (const onnx::ValueInfoProto &input : model->graph().input())
    if (!initializers.count(input.name()))
      inputNames.push_back(input.name());

  std::set<std::string> pinned = importTimeInputNames(*model);
  for (const std::string &dataSet : dataSets) {
    std::string data = directory + "/" + dataSet;
    std::vector<HostTensor> inputs;
    OnnxImportOptions options;
    auto pinnedModel = std::make_shared<onnx::ModelProto>(*model);
    for (size_t i = 0; i < inputNames.size(); ++i) {
      onnx::TensorProto tensor;
      if (!readProto(absl::StrCat(data, "/input_", i, ".pb"), tensor))
        return {false, absl::StrCat(dataSet, ": input_", i, ".pb missing")};
      if (pinned.count(inputNames[i])) {
        tensor.set_name(inputNames[i]);
        *pinnedModel->mutable_graph()->add_initializer() = tensor;
        continue;
      }
      absl::StatusOr<onnx_import::StaticTensor> decoded = decodeTestTensor(
          tensor, data, declaredType(*model, inputNames[i]));
      if (!decoded.ok())
        return {false, std::string(decoded.status().message())};
      // Pin every dimension to the data's shape.
      options.inputShapes[inputNames[i]] = decoded->shape;
      HostTensor input;
      input.type = *onnx_import::runtimeElementType(decoded->dataType);
      input.dims = decoded->shape;
      std::string bytes = onnx_import::encodeBytes(*decoded);
      input.bytes.assign(bytes.begin(), bytes.end());
      inputs.push_back(std::move(input));
    }
    std::string diagnostics;
    mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
      diagnostics += d.str() + "; ";
      return mlir::success();
    });
    // Pinned inputs are initializers now, not inputs.
    google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> *graphInputs =
        pinnedModel->mutable_graph()->mutable_input();
    graphInputs->erase(std::remove_if(graphInputs->begin(), graphInputs->end(),
                                      [&](const onnx::ValueInfoProto &value) {
                                        return pinned.count(value.name()) > 0;
                                      }),
                       graphInputs->end());
    mlir::FailureOr<ImportedModel> imported =
        importOnnxModel(pinnedModel, directory, "model.onnx", context, options);
    if (failed(imported))
      return {false, "import: " + diagnostics};
    const char *tmp = std::getenv("TEST_TMPDIR");
    std::string scratch = tmp ? tmp : "/tmp";
    std::string parameterFile = "conformance.params";
    if (imported->numParameters() > 0)
      if (absl::Status status =
              imported->writeParameterFile(scratch + "/" + parameterFile);
          !status.ok())
        return {false, std::string(status.message())};
    if (partition && !splitInputs(*imported, devices))
      return {false, "no input has a dimension to split", /*skipped=*/true};
    mlir::FailureOr<proto::Executable> executable =
        compileToExecutable(*imported->module, parameterFile);
    if (failed(executable)) {
      bool unsupported =
          diagnostics.find("not supported by the partitioner") !=
              std::string::npos ||
          diagnostics.find("not implemented yet") != std::string::npos ||
          diagnostics.find("is not supported yet") != std::string::npos;
      return {false, "compile: " + diagnostics, partition && unsupported};
    }
    HostBackend host(1);
    absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
        (backend ? *backend : host).load(*executable, scratch);
    if (!loaded.ok()) {
      // A backend without a kernel for an op, or without an element type,
      // says so at load (ops the cuda backend does not plan are listed in
      // OpFactsTest's kHostOnly; it has no narrow or unsigned integers).
      std::string message(loaded.status().message());
      bool noKernel =
          backend &&
          (message.find("backend has no kernel") != std::string::npos ||
           message.find("backend has no element type") != std::string::npos);
      // The reason from "the <backend> backend has no ..." on.
      size_t said = message.find(" backend has no ");
      size_t from = said == std::string::npos ? 0 : message.rfind("the ", said);
      return {false,
              noKernel ? message.substr(from == std::string::npos ? 0 : from)
                       : "load: " + message,
              noKernel};
    }
    absl::StatusOr<std::vector<HostTensor>> outputs = (*loaded)->run(inputs);
    if (!outputs.ok())
      return {false, "run: " + std::string(outputs.status().message())};

    for (size_t o = 0; o < outputs->size(); ++o) {
      onnx::TensorProto tensor;
      if (!readProto(absl::StrCat(data, "/output_", o, ".pb"), tensor))
        return {false, absl::StrCat(dataSet, ": output_", o, ".pb missing")};
      absl::StatusOr<onnx_import::StaticTensor> expected = decodeTestTensor(
          tensor, data,
          o < static_cast<size_t>(model->graph().output_size())
              ? model->graph().output(o).type().tensor_type().elem_type()
              : onnx::TensorProto::UNDEFINED);
      if (!expected.ok())
        return {false, std::string(expected.status().message())};
      const HostTensor &got = (*outputs)[o];
      if (got.dims != expected->shape) {
        std::ostringstream message;
        message << "output " << o << " has " << got.numElements()
                << " elements in another shape than expected";
        return {false, message.str()};
      }
      // ONNX's own tolerances for its backend tests, looser for 16-bit
      // floats.
      bool half = got.type == proto::F16 || got.type == proto::BF16;
      double rtol = half ? 1e-2 : 1e-3, atol = half ? 1e-2 : 1e-6;
      for (int64_t i = 0; i < got.numElements(); ++i) {
        double want = expected->getDouble(i);
        double value = kernels::loadDouble(got.bytes.data(), got.type, i);
        bool nanMatch = std::isnan(want) && std::isnan(value);
        bool infMatch = std::isinf(want) && value == want;
        if (!nanMatch && !infMatch &&
            !(std::fabs(value - want) <= atol + rtol * std::fabs(want))) {
          std::ostringstream message;
          message << dataSet << ": output " << o << " element " << i << " is "
                  << value << ", expected " << want;
          return {false, message.str()};
        }
      }
    }
  }
  return {true, ""};
}

std::map<std::string, std::string> readKnownFailures(const std::string &path) {
  std::map<std::string, std::string> known;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    size_t space = line.find(' ');
    known[line.substr(0, space)] =
        space == std::string::npos ? "" : line.substr(space + 1);
  }
  return known;
}

/// The partitioner's invariant over every op the single-device run passes:
/// with the inputs split over `devices` devices of `backend` (null: the
/// host; 1: not split, for another backend), the numbers do not change. A case
/// the partitioner does not support must say so at compile time; a silently
/// wrong answer or any other failure fails the test.
void checkPartitioned(int devices, Backend *backend = nullptr) {
  std::string where = devices == 1 ? std::string("one device")
                      : devices    ? absl::StrCat(devices, " devices")
                                   : std::string("a 2x2 mesh");
  std::vector<std::string> tests = listDirectory(kNodeTests, "test_");
  if (tests.empty())
    GTEST_SKIP() << kNodeTests << " is missing: install libonnx-testdata";
  std::map<std::string, std::string> known =
      readKnownFailures("tests/conformance/known_failures.txt");
  mlir::MLIRContext context;
  int runs = 0, passed = 0, skipped = 0;
  std::map<std::string, int> reasons;
  for (const std::string &name : tests) {
    std::string directory = std::string(kNodeTests) + "/" + name;
    onnx::ModelProto model;
    if (!readProto(directory + "/model.onnx", model) ||
        !unsupportedReason(model).empty() || known.count(name))
      continue;
    ++runs;
    Outcome outcome = runTest(directory, context, devices, backend);
    if (outcome.passed)
      ++passed;
    else if (outcome.skipped) {
      ++skipped;
      // The reason without the op's details: "... is not supported ...".
      std::string reason = outcome.detail;
      if (size_t quote = reason.find("' op "); quote != std::string::npos)
        reason = reason.substr(quote + 5);
      reason = reason.substr(0, reason.find_first_of(";:(0123456789"));
      ++reasons[reason];
    } else
      ADD_FAILURE() << name << " partitioned over " << where << ": "
                    << outcome.detail;
  }
  std::cout << "ONNX node tests partitioned over " << where
            << (backend ? " on " + backend->name() : std::string()) << ": "
            << runs << " run, " << passed << " pass, " << skipped
            << " reported unsupported (by the partitioner, or the backend "
               "has no kernel or element type) or not splittable\n";
  for (const auto &[reason, count] : reasons)
    std::cout << "  " << count << ": " << reason << "\n";
}

TEST(OnnxNodeTest, PartitionedOverTwoDevicesMatchOnnxReferenceOutputs) {
  checkPartitioned(2);
}

TEST(OnnxNodeTest, PartitionedOverFourDevicesMatchOnnxReferenceOutputs) {
  checkPartitioned(4);
}

TEST(OnnxNodeTest,
     PartitionedUnevenlyOverThreeDevicesMatchOnnxReferenceOutputs) {
  checkPartitioned(3);
}

TEST(OnnxNodeTest, PartitionedOverA2x2MeshMatchOnnxReferenceOutputs) {
  checkPartitioned(0);
}

// The CUDA backend's kernels (DeviceOps.h, run by the host emulation with
// cuDNN-style convolutions) against ONNX's reference outputs: every
// supported op on one device, and split over a 2x2 mesh (NCCL lowering).
TEST(OnnxNodeTest, OnTheEmulatedCudaBackendMatchOnnxReferenceOutputs) {
  std::unique_ptr<Backend> emulation = cuda::makeEmulationBackend(60);
  checkPartitioned(1, emulation.get());
}

TEST(OnnxNodeTest,
     PartitionedOverA2x2MeshOnTheEmulatedCudaBackendMatchOnnxReferenceOutputs) {
  std::unique_ptr<Backend> emulation = cuda::makeEmulationBackend(60, false);
  checkPartitioned(0, emulation.get());
}

TEST(OnnxNodeTest, SupportedOpsMatchOnnxReferenceOutputs) {
  std::vector<std::string> tests = listDirectory(kNodeTests, "test_");
  if (tests.empty())
    GTEST_SKIP() << kNodeTests << " is missing: install libonnx-testdata";
  std::map<std::string, std::string> known =
      readKnownFailures("tests/conformance/known_failures.txt");

  mlir::MLIRContext context;
  std::map<std::string, int> unsupported;
  std::vector<std::string> newFailures, fixed;
  int supported = 0, passed = 0;
  for (const std::string &name : tests) {
    std::string directory = std::string(kNodeTests) + "/" + name;
    onnx::ModelProto model;
    if (!readProto(directory + "/model.onnx", model)) {
      ++unsupported["unreadable model"];
      continue;
    }
    std::string reason = unsupportedReason(model);
    if (!reason.empty()) {
      ++unsupported[reason];
      continue;
    }
    ++supported;
    Outcome outcome = runTest(directory, context);
    bool listed = known.count(name) > 0;
    if (outcome.passed) {
      ++passed;
      if (listed)
        fixed.push_back(name);
    } else if (!listed) {
      newFailures.push_back(name + ": " + outcome.detail);
    }
  }

  std::cout << "ONNX node tests: " << tests.size() << " in all, " << supported
            << " of supported ops, " << passed << " pass, "
            << supported - passed << " fail\n";
  std::cout << "Not supported (tests per reason):\n";
  for (const auto &[reason, count] : unsupported)
    std::cout << "  " << reason << ": " << count << "\n";
  for (const std::string &failure : newFailures)
    ADD_FAILURE() << "new failure (fix it, or list it in "
                     "known_failures.txt with the reason): "
                  << failure;
  for (const std::string &name : fixed)
    ADD_FAILURE() << name << " passes now: remove it from known_failures.txt";
}

} // namespace
} // namespace tessel
