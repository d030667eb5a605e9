//===- _tessel.cpp - The Python extension over the C++ API ----------------===//
//
// The thin native layer of the `tessel` package: compile, read, inspect,
// save and run, each a call into compiler/api/Tessel.h. Names, meshes and
// partition specs are put into shape by tessel/__init__.py; what is here
// converts between numpy arrays and the runtime's tensors (in place where
// the dtype and layout allow) and turns statuses into TesselError.
//
//===----------------------------------------------------------------------===//

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "compiler/api/Tessel.h"
#include "compiler/plan/Plan.h"
#include "runtime/Checkpoint.h"
#include "runtime/Executable.h"
#include "runtime/host/HostBackend.h"

namespace py = pybind11;

namespace tessel {
namespace {

/// Raised as tessel.TesselError with the status's message (the compiler's
/// diagnostics for a compilation error).
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void raise(const absl::Status &status) {
  throw Error(std::string(status.message()));
}

template <typename T> T take(absl::StatusOr<T> value) {
  if (!value.ok())
    raise(value.status());
  return std::move(*value);
}

/// numpy's name for an element type; nullopt where numpy has none.
std::optional<std::string> numpyName(proto::ElementType type) {
  switch (type) {
  case proto::F32:
    return "float32";
  case proto::F64:
    return "float64";
  case proto::F16:
    return "float16";
  case proto::I32:
    return "int32";
  case proto::I64:
    return "int64";
  case proto::I1:
    return "bool";
  case proto::I8:
    return "int8";
  case proto::U8:
    return "uint8";
  case proto::I16:
    return "int16";
  case proto::U16:
    return "uint16";
  case proto::U32:
    return "uint32";
  case proto::U64:
    return "uint64";
  default:
    return std::nullopt;
  }
}

std::string typeName(proto::ElementType type) {
  std::optional<std::string> name = numpyName(type);
  return name ? *name : proto::ElementType_Name(type);
}

py::dict describe(const proto::TensorSpec &spec) {
  py::dict info;
  info["name"] = spec.name();
  info["dtype"] = typeName(spec.element_type());
  const auto &dims = storedDims(spec); // A viewed tensor as it is stored.
  info["shape"] = std::vector<int64_t>(dims.begin(), dims.end());
  return info;
}

/// A compiled model and, once it first runs, the model loaded on host
/// threads. One run at a time (the loaded executable's buffers are its
/// own); two Executables run in parallel.
class Executable {
public:
  Executable(Compiled compiled, int threads)
      : compiled(std::move(compiled)), threads(threads) {}

  int numDevices() const { return compiled.executable().programs_size(); }

  py::list inputs() const {
    py::list result;
    for (const proto::TensorSpec &spec : compiled.executable().inputs())
      result.append(describe(spec));
    return result;
  }

  py::list outputs() const {
    py::list result;
    for (const proto::TensorSpec &spec : compiled.executable().outputs())
      result.append(describe(spec));
    return result;
  }

  /// Tensor name -> partition spec in the plan format's JSON form.
  std::map<std::string, std::string> planSpecs() const {
    std::map<std::string, std::string> specs;
    for (const proto::TensorPlan &tensor : compiled.plan().tensors())
      specs[tensor.name()] = tensor.spec();
    return specs;
  }

  std::vector<std::pair<std::string, int64_t>> mesh() const {
    std::vector<std::pair<std::string, int64_t>> axes;
    for (const proto::PlanMesh::Axis &axis : compiled.plan().mesh().axes())
      axes.emplace_back(axis.name(), axis.size());
    return axes;
  }

  std::string planText() const {
    return compiled.plan().tensors_size() ? compiled.planText() : "";
  }

  py::list collectives() const {
    py::list result;
    for (const CollectiveCount &count : compiled.collectives())
      result.append(
          py::make_tuple(count.kind, count.count, count.bytesPerDevice));
    return result;
  }

  int64_t deviceMemory(int device) const {
    return take(compiled.deviceMemory(device));
  }

  py::dict memoryEstimate(int device) const {
    MemoryEstimate estimate = take(compiled.memoryEstimate(device));
    py::dict result;
    result["parameters"] = estimate.parameters;
    result["state"] = estimate.state;
    result["inputs"] = estimate.inputs;
    result["arena"] = estimate.arena;
    result["load_time"] = estimate.loadTime;
    result["total"] = estimate.total();
    result["peak_live"] = estimate.peakLive;
    result["peak_instruction"] = estimate.peakInstruction;
    result["peak_at"] = estimate.peakAt;
    py::list largest;
    for (const auto &[name, bytes] : estimate.largestLive)
      largest.append(py::make_tuple(name, bytes));
    result["largest_live"] = largest;
    return result;
  }

  std::string explainCollectives() const {
    return compiled.explainCollectives();
  }

  std::string reportHtml(const std::string &title,
                         const std::string &deviceProfile,
                         int64_t budget) const {
    return take(compiled.reportHtml(title, deviceProfile, budget));
  }

  std::string layout(const std::string &tensor) const {
    absl::StatusOr<const report::TensorLayout *> layout =
        compiled.layouts().find(tensor);
    if (!layout.ok())
      throw py::key_error(std::string(layout.status().message()));
    return report::drawLayout(**layout);
  }

  py::object report() const {
    const std::optional<autoshard::AutoShardReport> &report =
        compiled.autoShardReport();
    if (!report)
      return py::none();
    py::dict result;
    result["compute_seconds"] = report->computeSeconds;
    result["communication_seconds"] = report->communicationSeconds;
    result["peak_bytes"] = report->peakBytes;
    result["budget_bytes"] = report->budgetBytes;
    // Of peak_bytes, the runtime's own (the device profile's runtime_bytes).
    result["runtime_bytes"] = report->runtimeBytes;
    // Of peak_bytes, the largest collective's workspace (the device
    // profile's collective_workspace).
    result["workspace_bytes"] = report->workspaceBytes;
    result["feasible"] = report->feasible;
    result["optimal"] = report->optimal;
    // The plan given, priced (compile(..., price=True)), not chosen.
    result["priced"] = report->priced;
    result["method"] = report->method;
    // No plan that fits models below this (None: no bound was computed).
    result["lower_bound_seconds"] = report->lowerBoundSeconds
                                        ? py::cast(*report->lowerBoundSeconds)
                                        : py::none();
    result["profile"] = report->profile;
    result["explanation"] = report->explanation;
    // The next-best plans (compile(..., alternatives=N)): each its modeled
    // step, peak bytes and the layouts of the decisions.
    auto layouts = [](const auto &entries) {
      py::dict plan;
      for (const auto &[name, spec] : entries)
        plan[py::str(name)] = spec;
      return plan;
    };
    py::list alternatives;
    for (const autoshard::AutoShardAlternative &alternative :
         report->alternatives) {
      py::dict entry;
      entry["seconds"] = alternative.seconds;
      entry["peak_bytes"] = alternative.peakBytes;
      entry["plan"] = layouts(alternative.layouts);
      alternatives.append(entry);
    }
    result["alternatives"] = alternatives;
    result["decisions"] = layouts(report->decisionLayouts);
    return std::move(result);
  }

  void save(const std::string &path) const {
    if (absl::Status status = compiled.save(path); !status.ok())
      raise(status);
  }

  /// Runs on arrays in the program's input order; returns the outputs.
  py::list run(const std::vector<py::array> &given) {
    const proto::Executable &program = compiled.executable();
    std::vector<int> all(program.inputs_size()),
        outputs(program.outputs_size());
    std::iota(all.begin(), all.end(), 0);
    std::iota(outputs.begin(), outputs.end(), 0);
    return call(given, all, outputs, /*step=*/false);
  }

  /// A training step (LoadedExecutable::step) on the arrays of the step's
  /// inputs; returns the step's outputs.
  py::list step(const std::vector<py::array> &given) {
    return call(given, signature.inputs, signature.outputs, /*step=*/true);
  }

  py::list stepInputs() const {
    return describeAll(compiled.executable().inputs(), signature.inputs);
  }
  py::list stepOutputs() const {
    return describeAll(compiled.executable().outputs(), signature.outputs);
  }
  py::list state() const {
    py::list result;
    for (const StepSignature::State &entry : signature.state)
      result.append(describe(*entry.spec));
    return result;
  }
  int64_t stepsTaken() const { return steps; }

  py::array readState(const std::string &name) {
    HostTensor value = withLoaded(
        [&](LoadedExecutable &loaded) { return loaded.readState(name); });
    std::optional<std::string> type = numpyName(value.type);
    if (!type)
      throw Error(absl::StrCat("'", name, "' is ", typeName(value.type),
                               ", which numpy cannot hold"));
    std::vector<py::ssize_t> shape(value.dims.begin(), value.dims.end());
    py::array array(py::dtype(*type), shape);
    std::copy(value.bytes.begin(), value.bytes.end(),
              static_cast<char *>(array.mutable_data()));
    return array;
  }

  void writeState(const std::string &name, const py::array &given) {
    const StepSignature::State *entry = signature.find(name);
    if (!entry)
      throw Error(absl::StrCat("'", name, "' is no state of the executable"));
    py::array array = checkedArray(given, *entry->spec, "state");
    std::vector<int64_t> dims(array.shape(), array.shape() + array.ndim());
    TensorRef value(entry->spec->element_type(), dims,
                    const_cast<void *>(array.data()), array.nbytes());
    withLoaded([&](LoadedExecutable &loaded) -> absl::StatusOr<bool> {
      if (absl::Status status = loaded.writeState(name, value); !status.ok())
        return status;
      return true;
    });
  }

  void saveCheckpoint(const std::string &path) {
    withLoaded([&](LoadedExecutable &loaded) -> absl::StatusOr<bool> {
      if (absl::Status status = tessel::saveCheckpoint(loaded, steps, path);
          !status.ok())
        return status;
      return true;
    });
  }

  void loadCheckpoint(const std::string &path) {
    steps = withLoaded([&](LoadedExecutable &loaded) {
      return tessel::loadCheckpoint(loaded, path);
    });
  }

  void saveParams(const std::string &path) {
    withLoaded([&](LoadedExecutable &loaded) -> absl::StatusOr<bool> {
      absl::StatusOr<ParameterSource> source = compiled.parameterSource();
      if (!source.ok())
        return source.status();
      if (absl::Status status = saveParameters(loaded, *source, path);
          !status.ok())
        return status;
      return true;
    });
  }

private:
  static py::list describeAll(
      const google::protobuf::RepeatedPtrField<proto::TensorSpec> &specs,
      const std::vector<int> &which) {
    py::list result;
    for (int i : which)
      result.append(describe(specs[i]));
    return result;
  }

  /// `given` as a C-contiguous array of `spec`'s dtype (in place when it
  /// is one already).
  static py::array checkedArray(const py::array &given,
                                const proto::TensorSpec &spec,
                                const char *what) {
    std::optional<std::string> expected = numpyName(spec.element_type());
    if (!expected)
      throw Error(absl::StrCat(what, " '", spec.name(), "' is ",
                               typeName(spec.element_type()),
                               ", which numpy cannot hold"));
    py::dtype dtype(*expected);
    if (!given.dtype().is(dtype) && !given.dtype().equal(dtype))
      throw Error(absl::StrCat(what, " '", spec.name(), "' must be ", *expected,
                               ", got ", std::string(py::str(given.dtype()))));
    py::array array = py::array::ensure(given, py::array::c_style);
    if (!array)
      throw Error(
          absl::StrCat(what, " '", spec.name(), "' cannot be made contiguous"));
    return array;
  }

  /// Calls `use` on the loaded executable (loading it first), without the
  /// GIL and one call at a time; raises its error.
  template <typename Fn,
            typename Result = std::invoke_result_t<Fn, LoadedExecutable &>>
  typename Result::value_type withLoaded(Fn use) {
    Result result = absl::UnknownError("not run");
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      if (absl::Status status = ensureLoaded(); !status.ok())
        result = status;
      else
        result = use(*loaded);
    }
    return take(std::move(result));
  }

  absl::Status ensureLoaded() {
    if (loaded)
      return absl::OkStatus();
    backend = std::make_unique<HostBackend>(threads);
    absl::StatusOr<std::unique_ptr<LoadedExecutable>> load =
        compiled.load(*backend);
    if (!load.ok())
      return load.status();
    loaded = std::move(*load);
    return absl::OkStatus();
  }

  /// Runs (or steps) on `given`, the arrays of the inputs `which`;
  /// returns new arrays of the outputs `produced`.
  py::list call(const std::vector<py::array> &given,
                const std::vector<int> &which, const std::vector<int> &produced,
                bool isStep) {
    const proto::Executable &program = compiled.executable();
    if (given.size() != which.size())
      throw Error(absl::StrCat("the ", isStep ? "step" : "program", " takes ",
                               which.size(), " inputs, got ", given.size()));
    std::vector<py::array> arrays;
    arrays.reserve(given.size());
    std::vector<std::vector<int64_t>> dims(given.size());
    std::vector<TensorRef> inputs;
    inputs.reserve(given.size());
    for (size_t i = 0; i < given.size(); ++i) {
      const proto::TensorSpec &spec = program.inputs(which[i]);
      // In place when C-contiguous; otherwise one contiguous copy.
      arrays.push_back(checkedArray(given[i], spec, "input"));
      const py::array &array = arrays.back();
      dims[i].assign(array.shape(), array.shape() + array.ndim());
      inputs.emplace_back(spec.element_type(), dims[i],
                          const_cast<void *>(array.data()), array.nbytes());
    }
    py::list results;
    std::vector<TensorRef> outputs;
    std::vector<py::array> made;
    for (int o : produced) {
      const proto::TensorSpec &spec = program.outputs(o);
      std::optional<std::string> name = numpyName(spec.element_type());
      if (!name)
        throw Error(absl::StrCat("output '", spec.name(), "' is ",
                                 typeName(spec.element_type()),
                                 ", which numpy cannot hold"));
      const auto &dims = storedDims(spec);
      std::vector<py::ssize_t> shape(dims.begin(), dims.end());
      py::array array(py::dtype(*name), shape);
      outputs.emplace_back(spec.element_type(),
                           absl::MakeConstSpan(dims.data(), dims.size()),
                           array.mutable_data(), array.nbytes());
      made.push_back(array);
      results.append(array);
    }
    withLoaded([&](LoadedExecutable &loaded) -> absl::StatusOr<bool> {
      absl::Status status = isStep ? loaded.step(inputs, outputs)
                                   : loaded.runBuffers(inputs, outputs);
      if (!status.ok())
        return status;
      steps += isStep;
      return true;
    });
    return results;
  }

  Compiled compiled;
  StepSignature signature = stepSignature(compiled.executable());
  /// Steps taken (from a checkpoint's count when one was loaded).
  int64_t steps = 0;
  int threads;
  std::mutex mutex;
  std::unique_ptr<HostBackend> backend;
  std::unique_ptr<LoadedExecutable> loaded;
};

std::unique_ptr<Executable> compileModel(
    const std::string &kind, const py::bytes &data,
    const std::map<std::string, std::vector<int64_t>> &inputShapes,
    const std::string &mesh, const std::string &planText,
    const std::vector<std::pair<std::string, std::string>> &specs,
    bool autoShard, double autoSeconds, const std::string &deviceProfile,
    int64_t memoryBudget, const std::string &explain, int alternatives,
    int threads, const std::string &loss, const std::string &optimizer,
    const std::vector<std::string> &frozen, const std::string &batchNorm,
    const std::string &ringAttention, int overlapCollectives, bool price) {
  std::string contents = data;
  ModelSource source = kind == "file"   ? ModelSource::file(contents)
                       : kind == "onnx" ? ModelSource::onnx(contents)
                                        : ModelSource::mlir(contents);
  CompileOptions options;
  options.inputShapes = inputShapes;
  options.sharding.mesh = mesh;
  if (!planText.empty() || !specs.empty()) {
    proto::Plan plan;
    if (!planText.empty())
      plan = take(parsePlan(planText, "the plan"));
    for (const auto &[name, spec] : specs) {
      proto::TensorPlan *tensor = plan.add_tensors();
      tensor->set_name(name);
      tensor->set_spec(spec);
    }
    options.sharding.plan = std::move(plan);
  }
  options.sharding.autoShard = autoShard;
  options.sharding.autoSeconds = autoSeconds;
  options.sharding.price = price;
  options.sharding.deviceProfile = deviceProfile;
  options.sharding.memoryBudget = memoryBudget;
  options.sharding.explain = explain;
  options.sharding.alternatives = alternatives;
  std::optional<ShardingOptions::RingAttention> ring =
      ShardingOptions::ringAttentionNamed(ringAttention);
  if (!ring)
    throw Error("ring_attention is 'auto', 'always', 'unbalanced' or 'never', "
                "got '" +
                ringAttention + "'");
  options.sharding.ringAttention = *ring;
  options.sharding.overlapCollectives = overlapCollectives;
  options.training = {loss, optimizer, frozen, batchNorm};
  absl::StatusOr<Compiled> compiled;
  {
    py::gil_scoped_release release;
    compiled = compile(source, options);
  }
  return std::make_unique<Executable>(take(std::move(compiled)), threads);
}

} // namespace
} // namespace tessel

PYBIND11_MODULE(_tessel, m) {
  using namespace tessel;
  m.doc() = "Tessel's native layer; use the `tessel` package.";
  py::register_exception<Error>(m, "TesselError", PyExc_RuntimeError);

  py::class_<Executable>(m, "Executable")
      .def_property_readonly("num_devices", &Executable::numDevices)
      .def_property_readonly("inputs", &Executable::inputs)
      .def_property_readonly("outputs", &Executable::outputs)
      .def("plan_specs", &Executable::planSpecs)
      .def("mesh", &Executable::mesh)
      .def("plan_text", &Executable::planText)
      .def("collectives", &Executable::collectives)
      .def("device_memory", &Executable::deviceMemory)
      .def("memory_estimate", &Executable::memoryEstimate)
      .def("explain_collectives", &Executable::explainCollectives)
      .def("report_html", &Executable::reportHtml)
      .def("layout", &Executable::layout)
      .def("report", &Executable::report)
      .def("save", &Executable::save)
      .def("run", &Executable::run)
      .def("step", &Executable::step)
      .def_property_readonly("step_inputs", &Executable::stepInputs)
      .def_property_readonly("step_outputs", &Executable::stepOutputs)
      .def_property_readonly("state", &Executable::state)
      .def_property_readonly("steps_taken", &Executable::stepsTaken)
      .def("read_state", &Executable::readState)
      .def("write_state", &Executable::writeState)
      .def("save_checkpoint", &Executable::saveCheckpoint)
      .def("load_checkpoint", &Executable::loadCheckpoint)
      .def("save_params", &Executable::saveParams);

  m.def("compile", &compileModel);
  m.def("read",
        [](const std::string &path, const std::string &params, int threads) {
          return std::make_unique<Executable>(
              take(Compiled::read(path, params)), threads);
        });
  m.def("parse_byte_size", [](const std::string &text) -> int64_t {
    std::optional<int64_t> bytes = parseByteSize(text);
    if (!bytes)
      throw Error("'" + text + "' is not a size (40GiB, 512MiB, or bytes)");
    return *bytes;
  });
}
