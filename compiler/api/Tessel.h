//===- Tessel.h - Tessel as a library ---------------------------*- C++ -*-===//
//
// The header a framework includes to compile with Tessel: a model (an ONNX
// file or ModelProto bytes, MLIR text in Tessel's dialects, or a file of
// either), input shapes, a mesh, a plan or the cost model's choice, into an
// executable it can inspect (the plan per tensor, the collectives of a
// step, the modeled cost and memory) and save. Errors are absl::Status
// values carrying the compiler's diagnostics; nothing exits the process.
//
//   tessel::CompileOptions options;
//   options.inputShapes["x"] = {8, 64};
//   options.sharding.mesh = "x=2,y=2";
//   options.sharding.autoShard = true;
//   absl::StatusOr<tessel::Compiled> compiled =
//       tessel::compile(tessel::ModelSource::file("model.onnx"), options);
//   compiled->save("model.tessel");   // and model.tessel.params
//
//   // Or run it here, on buffers the caller owns:
//   tessel::HostBackend host;
//   auto loaded = compiled->load(host);
//   (*loaded)->runBuffers({tessel::TensorRef(f32, dims, x, bytes)}, {out});
//
// tessel-compile is this API behind flags (tools/tessel-compile.cpp): the
// steps below (Model::load, Model::shard, Model::compile) are what it runs.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_API_TESSEL_H
#define TESSEL_COMPILER_API_TESSEL_H

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/plan/plan.pb.h"
#include "compiler/report/Layout.h"
#include "passes/autoshard/AutoShard.h"
#include "runtime/Backend.h"
#include "runtime/Executable.h"
#include "runtime/host/HostBackend.h"
#include "runtime/params/ParameterFile.h"
#include "runtime/proto/executable.pb.h"

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace tessel {

/// A model to compile: a file (its format by extension, as tessel-compile
/// reads it), the bytes of an ONNX ModelProto, MLIR text, or an MLIR module.
struct ModelSource {
  enum class Kind { File, OnnxBytes, MlirText };
  Kind kind = Kind::File;
  /// The file, or the name diagnostics give the in-memory model.
  std::string name;
  std::string contents; // OnnxBytes, MlirText

  static ModelSource file(std::string path);
  static ModelSource onnx(std::string bytes, std::string name = "model.onnx");
  static ModelSource mlir(std::string text, std::string name = "model.mlir");
  /// A module the caller built in Tessel's dialects, on a context of its
  /// own: compiled from a copy (printed with its locations), so that the
  /// caller's context is never touched by the compilation.
  static ModelSource mlir(mlir::ModuleOp module,
                          std::string name = "model.mlir");
};

/// How tensors are sharded: a mesh, annotations, and whether the cost model
/// chooses the rest.
struct ShardingOptions {
  /// "x=2,y=4"; empty: no mesh (an MLIR model may carry its own).
  std::string mesh;
  /// Partition specs by tensor name; with autoShard, constraints.
  std::optional<proto::Plan> plan;
  bool autoShard = false;
  /// What autoShard prices plans for: a built-in profile name (host,
  /// h100_sxm, a100_sxm) or a DeviceProfile file in text form.
  std::string deviceProfile = "host";
  /// Bytes per device for autoShard; 0: the profile's memory.
  int64_t memoryBudget = 0;
  /// autoShard's time limit.
  double autoSeconds = 10.0;
  /// With autoShard: a tensor whose candidate layouts the report explains.
  std::string explain;
  /// With autoShard on a training step whose plan sets no ZeRO stage:
  /// also price the plan with each stage over each mesh axis, and take
  /// the cheapest that fits (AutoShardReport::zeroNote says how each
  /// fared). A plan's `zero {}` (stage 0) keeps ZeRO out.
  bool zeroCandidates = true;
  /// With autoShard: list this many next-best plans in the report
  /// (AutoShardReport::alternatives), each the best under another layout
  /// of the largest inputs and parameters.
  int alternatives = 0;
  /// Without autoShard: price the plan as given (the mesh and plan, as
  /// propagation completes them) with the cost model of deviceProfile;
  /// autoShardReport() then holds its modeled step and peak memory per
  /// device, the figures autoShard gives the plan it chooses.
  bool price = false;
  /// With autoShard: called as the search improves (seconds so far, modeled
  /// seconds per step of the best plan).
  std::function<void(double, double)> onProgress;
  /// Record where each tensor's layout came from (the plan, --auto's
  /// modeled gain, propagation from a named tensor through a named op), so
  /// that the reasons of the collectives (Compiled::explainCollectives)
  /// name the layouts that conflicted and their origins. They live in the
  /// IR from the plan to the collectives (spmd.origins), then in the
  /// executable's reasons.
  bool origins = true;
  /// An attention whose queries are split along the sequence can run over
  /// a ring of key/value blocks (--spmd-ring-attention: each device holds
  /// 1/n of the keys and values, for the same bytes) rather than on keys
  /// and values gathered whole. Auto: gathered, unless a device's program
  /// with the gathers needs more than memoryBudget (or the profile's
  /// memory); then the ring. A causal attention's work is balanced across
  /// the ring (zigzag) unless Unbalanced: the ring, every device scoring
  /// every block under the mask.
  enum class RingAttention { Auto, Always, Unbalanced, Never };
  RingAttention ringAttention = RingAttention::Auto;
  /// "auto", "always", "unbalanced" or "never" (the APIs' names); nullopt
  /// for another.
  static std::optional<RingAttention>
  ringAttentionNamed(const std::string &name);
  /// Collectives start as soon as their operand is ready and are waited for
  /// just before their result is read (--spmd-overlap-collectives), at most
  /// this many in flight at once: the work between runs while they
  /// communicate. 0: each runs in line, where it stands.
  int overlapCollectives = 0;
};

/// A training step (Model::train): empty loss, none.
struct TrainingOptions {
  std::string loss, optimizer;
  std::vector<std::string> frozen;
  /// "eval" or "train[:momentum=0.1]" (Model::train).
  std::string batchNorm = "eval";
};

struct CompileOptions {
  /// Pins inputs' shapes (dynamic dimensions of an ONNX model).
  std::map<std::string, std::vector<int64_t>> inputShapes;
  /// With a loss: compile() makes the model one training step.
  TrainingOptions training;
  ShardingOptions sharding;
  /// MLIR input with graph.parameter arguments: the parameter file that
  /// holds them (as an ONNX model's compilation writes it).
  std::string parameterFile;
};

/// A compiled model: the executable, its parameters, and what the
/// compiler chose.
class Compiled {
public:
  const proto::Executable &executable() const { return executable_; }
  /// The sharding of every named tensor (empty without a mesh).
  const proto::Plan &plan() const { return plan_; }
  /// The plan as protobuf text, with each parameter's readers noted, as
  /// tessel-compile --emit=plan prints it.
  std::string planText() const;
  /// The collectives of one step, per kind (none on one device).
  std::vector<CollectiveCount> collectives() const;
  /// What autoShard chose (or the plan priced), in numbers (modeled
  /// compute and communication per step, peak memory per device); empty
  /// without autoShard or price.
  const std::optional<autoshard::AutoShardReport> &autoShardReport() const {
    return report_;
  }
  /// Bytes device `device` holds while it runs on the host backend: its
  /// arena (activations, collective buffers), its inputs and its
  /// parameters (its parts of split ones).
  absl::StatusOr<int64_t> deviceMemory(int device) const;
  /// The same in parts (parameters, state, inputs, arena), with the
  /// arena's peak: when, and the largest tensors live then.
  absl::StatusOr<MemoryEstimate> memoryEstimate(int device) const;
  /// Each collective with why the partitioner made it, as
  /// tessel-compile --explain-collectives prints it.
  std::string explainCollectives() const;
  /// The mesh and each named tensor's layout (which device holds which
  /// block, where each split came from), as propagation chose them;
  /// empty without a mesh.
  const report::ModuleLayouts &layouts() const { return layouts_; }
  /// The plan as one self-contained HTML page (tessel-compile --report):
  /// mesh, layouts, a step's timeline priced by `deviceProfile` (a
  /// built-in profile name or a profile file), the memory curve against
  /// `budgetBytes` (0: the profile's memory), the collectives and why.
  absl::StatusOr<std::string> reportHtml(const std::string &title,
                                         const std::string &deviceProfile,
                                         int64_t budgetBytes = 0) const;
  /// Writes the executable at `path` and its parameters at `path`.params,
  /// which it names (relative: the two files move together); for a model
  /// compiled with CompileOptions::parameterFile, an index there pointing
  /// into that file.
  absl::Status save(const std::string &path) const;

  /// Loads the executable on `backend` (a HostBackend, or the MPI or CUDA
  /// backend) with its parameters from memory, or from the parameter file
  /// it was compiled or read with: nothing is written. Each loaded copy
  /// runs independently (one run at a time per copy).
  absl::StatusOr<std::unique_ptr<LoadedExecutable>>
  load(Backend &backend) const;
  /// Where load() takes the parameters from (saveParameters in
  /// runtime/Checkpoint.h reads the frozen ones there).
  absl::StatusOr<ParameterSource> parameterSource() const;

  /// An executable tessel-compile or save() wrote, with its parameter file
  /// (`parameterFile`, else the one it names, else `path`.params, as
  /// tessel-run finds it). The plan and report are not part of the file:
  /// plan() is empty; collectives() counts what the file holds.
  static absl::StatusOr<Compiled> read(const std::string &path,
                                       const std::string &parameterFile = "");

private:
  friend class Model;
  proto::Executable executable_;
  proto::Plan plan_;
  std::map<std::string, std::string> planNotes_;
  std::optional<autoshard::AutoShardReport> report_;
  report::ModuleLayouts layouts_;
  /// An ONNX model's weights, in memory (null: none, or in a file).
  std::shared_ptr<const ParameterSet> weights_;
  /// Otherwise the parameter file that holds the parameters.
  std::string linkedParameterFile_;
};

/// A model being compiled, step by step, on its own MLIR context: what
/// tessel-compile runs, and what compile() below runs in one call. Each
/// step's diagnostics end up in the status it returns (an error) and in
/// diagnostics() (warnings and notes too).
class Model {
public:
  ~Model();
  static absl::StatusOr<std::unique_ptr<Model>>
  load(const ModelSource &source, const CompileOptions &options);

  /// Makes the model one training step: the loss (`cross_entropy:logits,
  /// labels`, `mse:y,target` or a scalar output's name), the gradients of
  /// its graph.parameter arguments, and the optimizer's update (`sgd:lr=..`,
  /// `momentum:..`, `adam:..`, `adamw:..`), as tessel-compile --train
  /// (compiler/train/TrainingStep.h); before shard(). `frozen` names
  /// parameters kept as they are (buffers: batch-norm statistics, masks).
  /// `batchNorm`: "eval" (running statistics, kept) or
  /// "train[:momentum=0.1]" (batch statistics, running ones updated).
  absl::Status train(const std::string &loss, const std::string &optimizer,
                     const std::vector<std::string> &frozen = {},
                     const std::string &batchNorm = "eval");
  /// Applies the mesh and plan, runs autoShard if asked, then propagates
  /// shardings to every tensor. Nothing to do without a mesh.
  absl::Status shard(const ShardingOptions &options);
  /// Makes communication explicit on global shapes (tessel-compile
  /// --emit=spmd); needs a mesh.
  absl::Status insertCollectives();
  /// Partitions (with a mesh) and lowers the module in place (--emit=lowered).
  absl::Status lower();
  /// Lowers and exports the executable; the module is used up, and an
  /// ONNX model's weights move into the result.
  absl::StatusOr<Compiled> compile();

  mlir::ModuleOp module();
  bool hasMesh() const;
  /// Whether the model came from ONNX (its weights are in memory).
  bool hasWeights() const;
  /// Writes an ONNX model's weights as a parameter file.
  absl::Status writeParameters(const std::string &path) const;
  /// The sharding of every named tensor, and as protobuf text with notes.
  proto::Plan plan();
  std::string planText();
  const std::optional<autoshard::AutoShardReport> &autoShardReport() const;
  /// Each named tensor's layout after shard() (tessel-compile
  /// --emit=layout draws them); empty without a mesh.
  const report::ModuleLayouts &layouts() const;
  /// Diagnostics so far, one per line ("where: severity: message", MLIR
  /// input with the offending source line), cleared by takeDiagnostics.
  std::string takeDiagnostics();

private:
  Model();
  struct State;
  std::unique_ptr<State> state;
};

/// A plan change that would remove collectives (a remedy the partitioner
/// recorded: the layout their consumer needed, or a result laid out as
/// computed), priced by compiling the model with it.
struct RemedyPrice {
  std::string tensor, spec;
  /// The collectives it is offered for, numbered as explainCollectives
  /// numbers them.
  std::vector<int> collectives;
  /// The step with the change and without: modeled seconds (the cost
  /// model on the executable), collectives run, their bytes per device.
  double stepSeconds = 0, baselineSeconds = 0;
  int64_t collectiveCount = 0, baselineCount = 0;
  int64_t collectiveBytes = 0, baselineBytes = 0;
  /// Why the change could not be priced (it does not apply, ...); empty
  /// if it was.
  std::string error;
};

/// The remedies of `compiled`'s collectives (at most `limit`, those of
/// the largest collectives first), each priced by compiling `source` with
/// `options` and that entry added to (or replacing its tensor's entry in)
/// the plan, by the cost model `deviceProfile` names. Empty when the
/// options set no mesh or plan (an MLIR model's own mesh takes no plan).
absl::StatusOr<std::vector<RemedyPrice>>
priceRemedies(const ModelSource &source, const CompileOptions &options,
              const Compiled &compiled, const std::string &deviceProfile,
              int limit = 8);

/// The prices as lines for people.
std::string formatRemedyPrices(const std::vector<RemedyPrice> &prices);

/// Model::load, shard and compile in one call.
absl::StatusOr<Compiled> compile(const ModelSource &source,
                                 const CompileOptions &options);

/// Whether a failed step's message is the compiler's diagnostics (lines of
/// "where: error: message"), rather than one sentence of its own.
inline constexpr char kDiagnosticsPayload[] = "tessel.dev/diagnostics";
bool isDiagnostics(const absl::Status &status);

/// "40GiB", "512MiB", "64KiB", "1.5GB" or plain bytes; nullopt if not a size.
std::optional<int64_t> parseByteSize(const std::string &text);

} // namespace tessel

#endif // TESSEL_COMPILER_API_TESSEL_H
