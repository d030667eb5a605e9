//===- api_overhead.cpp - The C++ API's compile and run times -------------===//
//
//   api_overhead MODEL INPUT_NAME D0xD1x... MESH ITERATIONS
//
// Compiles MODEL through tessel::compile (MESH "" for one device; a
// mesh splits the input's first dimension over its first axis), prints the
// first and the best of five compile times, then runs the model from memory on
// caller-owned buffers (LoadedExecutable::runBuffers, what every embedding
// calls) ITERATIONS times and prints the median microseconds per run.
// bench/embedding.sh compares these with tessel-compile and with the Python
// package.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "compiler/api/Tessel.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char **argv) {
  if (argc != 6) {
    std::fprintf(stderr,
                 "usage: %s MODEL INPUT_NAME D0xD1x... MESH ITERATIONS\n",
                 argv[0]);
    return 2;
  }
  std::vector<int64_t> dims;
  for (absl::string_view dim : absl::StrSplit(argv[3], 'x'))
    dims.push_back(std::atoll(std::string(dim).c_str()));
  tessel::CompileOptions options;
  options.inputShapes[argv[2]] = dims;
  options.sharding.mesh = argv[4];
  if (!options.sharding.mesh.empty()) {
    tessel::proto::Plan plan;
    tessel::proto::TensorPlan *tensor = plan.add_tensors();
    tensor->set_name(argv[2]);
    std::string axis =
        options.sharding.mesh.substr(0, options.sharding.mesh.find('='));
    std::string spec = "[\"" + axis + "\"";
    for (size_t d = 1; d < dims.size(); ++d)
      spec += ", null";
    tensor->set_spec(spec + "]");
    options.sharding.plan = plan;
  }
  // The first compilation pays for the MLIR context's set-up; the best of
  // five is what a framework compiling model after model sees.
  absl::StatusOr<tessel::Compiled> compiled;
  double first = 0, best = 1e30;
  for (int i = 0; i < 5; ++i) {
    auto start = Clock::now();
    compiled = tessel::compile(tessel::ModelSource::file(argv[1]), options);
    double seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    if (!compiled.ok()) {
      std::fprintf(stderr, "%s\n",
                   std::string(compiled.status().message()).c_str());
      return 1;
    }
    if (i == 0)
      first = seconds;
    best = std::min(best, seconds);
  }
  std::printf("compile_first_seconds %.4f\ncompile_seconds %.4f\n", first,
              best);

  tessel::HostBackend backend;
  absl::StatusOr<std::unique_ptr<tessel::LoadedExecutable>> loaded =
      compiled->load(backend);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(loaded.status().message()).c_str());
    return 1;
  }
  const tessel::proto::Executable &program = compiled->executable();
  std::vector<std::vector<char>> storage;
  std::vector<tessel::TensorRef> inputs, outputs;
  for (const auto *specs : {&program.inputs(), &program.outputs()})
    for (const tessel::proto::TensorSpec &spec : *specs) {
      int64_t bytes = tessel::elementByteSize(spec.element_type());
      for (int64_t dim : spec.dims())
        bytes *= dim;
      storage.emplace_back(bytes, 0);
      (specs == &program.inputs() ? inputs : outputs)
          .emplace_back(
              spec.element_type(),
              absl::MakeConstSpan(spec.dims().data(), spec.dims_size()),
              storage.back().data(), bytes);
    }
  int iterations = std::atoi(argv[5]);
  std::vector<double> times;
  for (int i = 0; i < iterations + 10; ++i) {
    auto begin = Clock::now();
    absl::Status status = (*loaded)->runBuffers(inputs, outputs);
    double micros =
        std::chrono::duration<double, std::micro>(Clock::now() - begin).count();
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
      return 1;
    }
    if (i >= 10) // the first runs warm up
      times.push_back(micros);
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2,
                   times.end());
  std::printf("run_us %.2f\n", times[times.size() / 2]);
  return 0;
}
