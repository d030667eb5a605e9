//===- CApi.cpp - Tessel's C API over the C++ one -------------------------===//
//
// Each entry point checks its pointers, calls the C++ API (compiler/api/
// Tessel.h) and turns the absl::Status it reports into a tessel_status.
// The C++ API reports every error as a status; none is thrown.
//
//===----------------------------------------------------------------------===//

#include "tessel/tessel.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "compiler/api/Tessel.h"
#include "compiler/plan/Plan.h"
#include "runtime/Checkpoint.h"
#include "runtime/ElementType.h"
#include "runtime/Executable.h"
#include "runtime/host/HostBackend.h"

struct tessel_status {
  tessel_status_code code;
  std::string message;
};

struct tessel_options {
  tessel::CompileOptions options;
};

struct tessel_executable {
  tessel::Compiled compiled;
  /// Collective counts, computed once (their kind strings are handed out).
  std::vector<tessel::CollectiveCount> collectives;
};

struct tessel_runner {
  std::unique_ptr<tessel::HostBackend> backend;
  std::unique_ptr<tessel::LoadedExecutable> loaded;
  /// Where the parameters came from (saveParameters reads frozen ones).
  std::optional<tessel::ParameterSource> parameters;
  int64_t steps = 0;
  /// Runs from several threads take turns: the loaded buffers are one set.
  std::mutex mutex;
};

namespace {

// The C enumerations mirror the C++ ones they are converted to.
static_assert(TESSEL_F32 == tessel::proto::F32 &&
                  TESSEL_BOOL == tessel::proto::I1 &&
                  TESSEL_F64 == tessel::proto::F64 &&
                  TESSEL_U64 == tessel::proto::U64,
              "tessel_element_type must mirror proto::ElementType");
static_assert(TESSEL_DATA_LOSS == static_cast<int>(absl::StatusCode::kDataLoss),
              "tessel_status_code must mirror absl::StatusCode");

tessel_status *fromStatus(const absl::Status &status) {
  if (status.ok())
    return nullptr;
  return new tessel_status{static_cast<tessel_status_code>(status.code()),
                           std::string(status.message())};
}

tessel_status *invalid(std::string message) {
  return new tessel_status{TESSEL_INVALID_ARGUMENT, std::move(message)};
}

char *copyString(const std::string &text) {
  char *copy = static_cast<char *>(std::malloc(text.size() + 1));
  if (copy)
    std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

tessel_status *compileFrom(const tessel::ModelSource &source,
                           const tessel_options *options,
                           tessel_executable **out) {
  if (!out)
    return invalid("tessel_compile: `out` is NULL");
  *out = nullptr;
  absl::StatusOr<tessel::Compiled> compiled = tessel::compile(
      source, options ? options->options : tessel::CompileOptions());
  if (!compiled.ok())
    return fromStatus(compiled.status());
  *out = new tessel_executable{std::move(*compiled), {}};
  (*out)->collectives = (*out)->compiled.collectives();
  return nullptr;
}

tessel_status *describe(const tessel::proto::TensorSpec &spec,
                        tessel_tensor_info *info) {
  if (!info)
    return invalid("`info` is NULL");
  info->name = spec.name().c_str();
  info->type = static_cast<tessel_element_type>(spec.element_type());
  // A viewed tensor (TensorSpec.stored_dims) as its users store it.
  const auto &dims = tessel::storedDims(spec);
  info->dims = dims.data();
  info->rank = dims.size();
  return nullptr;
}

/// The C tensors as the runtime's references, after checking what the
/// runtime cannot (pointers).
absl::StatusOr<std::vector<tessel::TensorRef>>
references(const tessel_tensor *tensors, size_t count, const char *what) {
  if (count > 0 && !tensors)
    return absl::InvalidArgumentError(
        absl::StrCat(count, " ", what, "s given but the array is NULL"));
  std::vector<tessel::TensorRef> refs;
  refs.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const tessel_tensor &tensor = tensors[i];
    if (tensor.rank > 0 && !tensor.dims)
      return absl::InvalidArgumentError(absl::StrCat(
          what, " ", i, " has rank ", tensor.rank, " but no dims"));
    refs.emplace_back(static_cast<tessel::proto::ElementType>(tensor.type),
                      absl::MakeConstSpan(tensor.dims, tensor.rank),
                      tensor.data, tensor.bytes);
  }
  return refs;
}

/// Converts a runner call's tensors and calls `use` with them, one call of
/// the runner at a time; `function` names the call in errors.
template <typename Fn>
tessel_status *callRunner(tessel_runner *runner, const char *function,
                          const tessel_tensor *inputs, size_t numInputs,
                          const tessel_tensor *outputs, size_t numOutputs,
                          Fn use) {
  if (!runner)
    return invalid(absl::StrCat(function, ": `runner` is NULL"));
  absl::StatusOr<std::vector<tessel::TensorRef>> in =
      references(inputs, numInputs, "input");
  if (!in.ok())
    return fromStatus(in.status());
  absl::StatusOr<std::vector<tessel::TensorRef>> out =
      references(outputs, numOutputs, "output");
  if (!out.ok())
    return fromStatus(out.status());
  std::lock_guard<std::mutex> lock(runner->mutex);
  return fromStatus(use(*runner->loaded, *in, *out));
}

} // namespace

extern "C" {

uint32_t tessel_api_version(void) {
  return (TESSEL_API_VERSION_MAJOR << 16) | TESSEL_API_VERSION_MINOR;
}

tessel_status_code tessel_status_get_code(const tessel_status *status) {
  return status ? status->code : TESSEL_OK;
}

const char *tessel_status_message(const tessel_status *status) {
  return status ? status->message.c_str() : "";
}

void tessel_status_free(tessel_status *status) { delete status; }

void tessel_string_free(char *text) { std::free(text); }

size_t tessel_element_size(tessel_element_type type) {
  return static_cast<size_t>(
      tessel::elementByteSize(static_cast<tessel::proto::ElementType>(type)));
}

tessel_options *tessel_options_create(void) { return new tessel_options(); }

void tessel_options_free(tessel_options *options) { delete options; }

tessel_status *tessel_options_set_input_shape(tessel_options *options,
                                              const char *name,
                                              const int64_t *dims,
                                              size_t rank) {
  if (!options || !name || (rank > 0 && !dims))
    return invalid("tessel_options_set_input_shape: NULL argument");
  for (size_t d = 0; d < rank; ++d)
    if (dims[d] < 0)
      return invalid(
          absl::StrCat("input '", name, "': dimension ", d, " is ", dims[d]));
  options->options.inputShapes[name].assign(dims, dims + rank);
  return nullptr;
}

tessel_status *tessel_options_set_mesh(tessel_options *options,
                                       const char *mesh) {
  if (!options || !mesh)
    return invalid("tessel_options_set_mesh: NULL argument");
  if (*mesh) {
    absl::StatusOr<tessel::proto::PlanMesh> parsed =
        tessel::parseMeshFlag(mesh);
    if (!parsed.ok())
      return fromStatus(parsed.status());
  }
  options->options.sharding.mesh = mesh;
  return nullptr;
}

tessel_status *tessel_options_set_partition_spec(tessel_options *options,
                                                 const char *tensor,
                                                 const char *spec) {
  if (!options || !tensor || !spec)
    return invalid("tessel_options_set_partition_spec: NULL argument");
  std::optional<tessel::proto::Plan> &plan = options->options.sharding.plan;
  if (!plan)
    plan.emplace();
  tessel::proto::TensorPlan *entry = plan->add_tensors();
  entry->set_name(tensor);
  entry->set_spec(spec);
  return nullptr;
}

tessel_status *tessel_options_set_plan_text(tessel_options *options,
                                            const char *text) {
  if (!options || !text)
    return invalid("tessel_options_set_plan_text: NULL argument");
  absl::StatusOr<tessel::proto::Plan> parsed =
      tessel::parsePlan(text, "the plan");
  if (!parsed.ok())
    return fromStatus(parsed.status());
  std::optional<tessel::proto::Plan> &plan = options->options.sharding.plan;
  if (!plan)
    plan.emplace();
  plan->MergeFrom(*parsed);
  return nullptr;
}

tessel_status *tessel_options_set_auto(tessel_options *options, int enabled,
                                       double seconds) {
  if (!options)
    return invalid("tessel_options_set_auto: `options` is NULL");
  if (!(seconds > 0))
    return invalid(absl::StrCat("tessel_options_set_auto: the search time is ",
                                seconds, " s; it must be > 0"));
  options->options.sharding.autoShard = enabled != 0;
  options->options.sharding.autoSeconds = seconds;
  return nullptr;
}

tessel_status *tessel_options_set_price(tessel_options *options, int enabled) {
  if (!options)
    return invalid("tessel_options_set_price: `options` is NULL");
  options->options.sharding.price = enabled != 0;
  return nullptr;
}

tessel_status *tessel_options_set_training(tessel_options *options,
                                           const char *loss,
                                           const char *optimizer,
                                           const char *frozen,
                                           const char *batchNorm) {
  if (!options || !loss || !optimizer)
    return invalid("tessel_options_set_training: NULL argument");
  tessel::TrainingOptions &training = options->options.training;
  training.loss = loss;
  training.optimizer = optimizer;
  training.frozen.clear();
  if (frozen)
    for (absl::string_view name :
         absl::StrSplit(frozen, ',', absl::SkipEmpty()))
      training.frozen.emplace_back(name);
  training.batchNorm = batchNorm ? batchNorm : "eval";
  return nullptr;
}

tessel_status *tessel_options_set_device_profile(tessel_options *options,
                                                 const char *profile) {
  if (!options || !profile)
    return invalid("tessel_options_set_device_profile: NULL argument");
  options->options.sharding.deviceProfile = profile;
  return nullptr;
}

tessel_status *tessel_options_set_memory_budget(tessel_options *options,
                                                int64_t bytes) {
  if (!options)
    return invalid("tessel_options_set_memory_budget: `options` is NULL");
  if (bytes < 0)
    return invalid(
        absl::StrCat("tessel_options_set_memory_budget: ", bytes, " bytes"));
  options->options.sharding.memoryBudget = bytes;
  return nullptr;
}

tessel_status *tessel_options_set_overlap_collectives(tessel_options *options,
                                                      int inFlight) {
  if (!options)
    return invalid("tessel_options_set_overlap_collectives: `options` is NULL");
  if (inFlight < 0)
    return invalid(absl::StrCat(
        "tessel_options_set_overlap_collectives: ", inFlight, " in flight"));
  options->options.sharding.overlapCollectives = inFlight;
  return nullptr;
}

tessel_status *tessel_options_set_ring_attention(tessel_options *options,
                                                 const char *mode) {
  if (!options || !mode)
    return invalid("tessel_options_set_ring_attention: NULL argument");
  std::optional<tessel::ShardingOptions::RingAttention> ring =
      tessel::ShardingOptions::ringAttentionNamed(mode);
  if (!ring)
    return invalid(absl::StrCat("tessel_options_set_ring_attention: '", mode,
                                "' is not auto, always, unbalanced or never"));
  options->options.sharding.ringAttention = *ring;
  return nullptr;
}

tessel_status *tessel_compile_file(const char *path,
                                   const tessel_options *options,
                                   tessel_executable **out) {
  if (!path)
    return invalid("tessel_compile_file: `path` is NULL");
  return compileFrom(tessel::ModelSource::file(path), options, out);
}

tessel_status *tessel_compile_onnx(const void *bytes, size_t size,
                                   const tessel_options *options,
                                   tessel_executable **out) {
  if (!bytes && size > 0)
    return invalid("tessel_compile_onnx: `bytes` is NULL");
  return compileFrom(tessel::ModelSource::onnx(
                         std::string(static_cast<const char *>(bytes), size)),
                     options, out);
}

tessel_status *tessel_compile_mlir(const char *text, size_t size,
                                   const tessel_options *options,
                                   tessel_executable **out) {
  if (!text && size > 0)
    return invalid("tessel_compile_mlir: `text` is NULL");
  return compileFrom(tessel::ModelSource::mlir(std::string(text, size)),
                     options, out);
}

tessel_status *tessel_executable_read(const char *path,
                                      tessel_executable **out) {
  if (!path || !out)
    return invalid("tessel_executable_read: NULL argument");
  *out = nullptr;
  absl::StatusOr<tessel::Compiled> compiled = tessel::Compiled::read(path);
  if (!compiled.ok())
    return fromStatus(compiled.status());
  *out = new tessel_executable{std::move(*compiled), {}};
  (*out)->collectives = (*out)->compiled.collectives();
  return nullptr;
}

tessel_status *tessel_executable_save(const tessel_executable *executable,
                                      const char *path) {
  if (!executable || !path)
    return invalid("tessel_executable_save: NULL argument");
  return fromStatus(executable->compiled.save(path));
}

void tessel_executable_free(tessel_executable *executable) {
  delete executable;
}

int tessel_executable_num_devices(const tessel_executable *executable) {
  return executable ? executable->compiled.executable().programs_size() : 0;
}

size_t tessel_executable_num_inputs(const tessel_executable *executable) {
  return executable ? executable->compiled.executable().inputs_size() : 0;
}

size_t tessel_executable_num_outputs(const tessel_executable *executable) {
  return executable ? executable->compiled.executable().outputs_size() : 0;
}

tessel_status *tessel_executable_input(const tessel_executable *executable,
                                       size_t index, tessel_tensor_info *info) {
  if (!executable)
    return invalid("tessel_executable_input: `executable` is NULL");
  const tessel::proto::Executable &program = executable->compiled.executable();
  if (index >= static_cast<size_t>(program.inputs_size()))
    return fromStatus(absl::OutOfRangeError(absl::StrCat(
        "input ", index, ": the program has ", program.inputs_size())));
  return describe(program.inputs(index), info);
}

tessel_status *tessel_executable_output(const tessel_executable *executable,
                                        size_t index,
                                        tessel_tensor_info *info) {
  if (!executable)
    return invalid("tessel_executable_output: `executable` is NULL");
  const tessel::proto::Executable &program = executable->compiled.executable();
  if (index >= static_cast<size_t>(program.outputs_size()))
    return fromStatus(absl::OutOfRangeError(absl::StrCat(
        "output ", index, ": the program has ", program.outputs_size())));
  return describe(program.outputs(index), info);
}

char *tessel_executable_plan(const tessel_executable *executable) {
  if (!executable || executable->compiled.plan().tensors_size() == 0)
    return copyString("");
  return copyString(executable->compiled.planText());
}

size_t
tessel_executable_num_collective_kinds(const tessel_executable *executable) {
  return executable ? executable->collectives.size() : 0;
}

tessel_status *tessel_executable_collective(const tessel_executable *executable,
                                            size_t index, const char **kind,
                                            int64_t *count,
                                            int64_t *bytesPerDevice) {
  if (!executable)
    return invalid("tessel_executable_collective: `executable` is NULL");
  if (index >= executable->collectives.size())
    return fromStatus(absl::OutOfRangeError(
        absl::StrCat("collective kind ", index, ": the executable has ",
                     executable->collectives.size())));
  const tessel::CollectiveCount &collective = executable->collectives[index];
  if (kind)
    *kind = collective.kind.c_str();
  if (count)
    *count = collective.count;
  if (bytesPerDevice)
    *bytesPerDevice = collective.bytesPerDevice;
  return nullptr;
}

tessel_status *
tessel_executable_device_memory(const tessel_executable *executable, int device,
                                int64_t *bytes) {
  if (!executable || !bytes)
    return invalid("tessel_executable_device_memory: NULL argument");
  absl::StatusOr<int64_t> memory = executable->compiled.deviceMemory(device);
  if (!memory.ok())
    return fromStatus(memory.status());
  *bytes = *memory;
  return nullptr;
}

namespace {
/// The cost model's report of `executable`'s plan, for `function`'s
/// status: INVALID_ARGUMENT without an executable, NOT_FOUND for a plan
/// neither chosen nor priced.
tessel_status *modeledReport(const tessel_executable *executable,
                             const char *function,
                             const tessel::autoshard::AutoShardReport **out) {
  if (!executable)
    return invalid(absl::StrCat(function, ": `executable` is NULL"));
  const auto &report = executable->compiled.autoShardReport();
  if (!report)
    return fromStatus(absl::NotFoundError(
        "the plan was neither chosen nor priced by the cost model (compile "
        "with auto or price)"));
  *out = &*report;
  return nullptr;
}
} // namespace

tessel_status *tessel_executable_modeled_cost(
    const tessel_executable *executable, double *computeSeconds,
    double *communicationSeconds, int64_t *peakBytes) {
  const tessel::autoshard::AutoShardReport *report = nullptr;
  if (tessel_status *status =
          modeledReport(executable, "tessel_executable_modeled_cost", &report))
    return status;
  if (computeSeconds)
    *computeSeconds = report->computeSeconds;
  if (communicationSeconds)
    *communicationSeconds = report->communicationSeconds;
  if (peakBytes)
    *peakBytes = report->peakBytes;
  return nullptr;
}

tessel_status *
tessel_executable_modeled_memory(const tessel_executable *executable,
                                 int64_t *runtimeBytes,
                                 int64_t *workspaceBytes) {
  const tessel::autoshard::AutoShardReport *report = nullptr;
  if (tessel_status *status = modeledReport(
          executable, "tessel_executable_modeled_memory", &report))
    return status;
  if (runtimeBytes)
    *runtimeBytes = report->runtimeBytes;
  if (workspaceBytes)
    *workspaceBytes = report->workspaceBytes;
  return nullptr;
}

tessel_status *tessel_runner_create(const tessel_executable *executable,
                                    int threads, tessel_runner **out) {
  if (!executable || !out)
    return invalid("tessel_runner_create: NULL argument");
  *out = nullptr;
  if (threads < 0)
    return invalid(absl::StrCat("tessel_runner_create: ", threads, " threads"));
  auto runner = std::make_unique<tessel_runner>();
  runner->backend = std::make_unique<tessel::HostBackend>(threads);
  absl::StatusOr<std::unique_ptr<tessel::LoadedExecutable>> loaded =
      executable->compiled.load(*runner->backend);
  if (!loaded.ok())
    return fromStatus(loaded.status());
  runner->loaded = std::move(*loaded);
  absl::StatusOr<tessel::ParameterSource> source =
      executable->compiled.parameterSource();
  if (!source.ok())
    return fromStatus(source.status());
  runner->parameters = std::move(*source);
  *out = runner.release();
  return nullptr;
}

tessel_status *tessel_runner_run(tessel_runner *runner,
                                 const tessel_tensor *inputs, size_t numInputs,
                                 const tessel_tensor *outputs,
                                 size_t numOutputs) {
  return callRunner(runner, "tessel_runner_run", inputs, numInputs, outputs,
                    numOutputs,
                    [](tessel::LoadedExecutable &loaded,
                       absl::Span<const tessel::TensorRef> in,
                       absl::Span<const tessel::TensorRef> out) {
                      return loaded.runBuffers(in, out);
                    });
}

tessel_status *tessel_runner_step(tessel_runner *runner,
                                  const tessel_tensor *inputs, size_t numInputs,
                                  const tessel_tensor *outputs,
                                  size_t numOutputs) {
  return callRunner(
      runner, "tessel_runner_step", inputs, numInputs, outputs, numOutputs,
      [runner](tessel::LoadedExecutable &loaded,
               absl::Span<const tessel::TensorRef> in,
               absl::Span<const tessel::TensorRef> out) {
        if (loaded.executable().state_updates_size() == 0)
          return absl::InvalidArgumentError(
              "tessel_runner_step: no output of this executable updates a "
              "parameter or an input: compile a training step "
              "(tessel_options_set_training)");
        absl::Status status = loaded.step(in, out);
        runner->steps += status.ok();
        return status;
      });
}

int64_t tessel_runner_steps_taken(const tessel_runner *runner) {
  return runner ? runner->steps : 0;
}

tessel_status *tessel_runner_save_checkpoint(tessel_runner *runner,
                                             const char *path) {
  if (!runner || !path)
    return invalid("tessel_runner_save_checkpoint: NULL argument");
  std::lock_guard<std::mutex> lock(runner->mutex);
  return fromStatus(
      tessel::saveCheckpoint(*runner->loaded, runner->steps, path));
}

tessel_status *tessel_runner_load_checkpoint(tessel_runner *runner,
                                             const char *path) {
  if (!runner || !path)
    return invalid("tessel_runner_load_checkpoint: NULL argument");
  std::lock_guard<std::mutex> lock(runner->mutex);
  absl::StatusOr<int64_t> steps = tessel::loadCheckpoint(*runner->loaded, path);
  if (!steps.ok())
    return fromStatus(steps.status());
  runner->steps = *steps;
  return nullptr;
}

tessel_status *tessel_runner_save_params(tessel_runner *runner,
                                         const char *path) {
  if (!runner || !path)
    return invalid("tessel_runner_save_params: NULL argument");
  std::lock_guard<std::mutex> lock(runner->mutex);
  return fromStatus(
      tessel::saveParameters(*runner->loaded, *runner->parameters, path));
}

void tessel_runner_free(tessel_runner *runner) { delete runner; }

} // extern "C"
