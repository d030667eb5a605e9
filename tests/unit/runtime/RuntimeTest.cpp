//===- RuntimeTest.cpp - Executables, .npy files, the thread pool ---------===//

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/ElementType.h"
#include "runtime/Executable.h"
#include "runtime/ThreadPool.h"
#include "runtime/host/DeviceThreads.h"
#include "runtime/host/HostBackend.h"
#include "runtime/io/Npy.h"
#include "runtime/params/ParameterFile.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

std::string tempPath(const std::string &name) {
  const char *dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

/// y = exp(x) + 1 on a 2x3 f32 input, in one fusion, written by hand.
proto::Executable tinyExecutable() {
  proto::Executable executable;
  executable.set_format_version(kExecutableFormatVersion);
  for (auto *spec : {executable.add_inputs(), executable.add_outputs()}) {
    spec->set_name(spec == &executable.inputs(0) ? "x" : "y");
    spec->set_element_type(proto::F32);
    spec->add_dims(2);
    spec->add_dims(3);
  }
  proto::DeviceProgram *program = executable.add_programs();
  program->set_arena_bytes(64);
  proto::Buffer *input = program->add_buffers();
  input->set_storage(proto::Buffer::INPUT);
  input->set_element_type(proto::F32);
  input->add_dims(2);
  input->add_dims(3);
  proto::Buffer *output = program->add_buffers();
  *output = *input;
  output->set_storage(proto::Buffer::ARENA);
  program->add_output_buffers(1);
  proto::Instruction *fusion = program->add_instructions();
  fusion->set_op("fusion");
  fusion->set_location("y");
  fusion->add_operands(0);
  fusion->add_results(1);
  proto::Ints *dims = fusion->mutable_fusion()->add_operand_dims();
  dims->add_values(0);
  dims->add_values(1);
  auto step = [&](const char *op, std::vector<int64_t> args) {
    proto::FusionStep *s = fusion->mutable_fusion()->add_steps();
    s->set_op(op);
    s->set_element_type(proto::F32);
    for (int64_t arg : args)
      s->add_args(arg);
    return s;
  };
  step("load", {0});
  step("exp", {0});
  (*step("constant", {})->mutable_attributes())["value"].set_f(1.0);
  step("add", {1, 2});
  fusion->mutable_fusion()->add_outputs(3);
  return executable;
}

TEST(ExecutableTest, WritesReadsAndRuns) {
  ASSERT_TRUE(writeExecutable(tinyExecutable(), tempPath("tiny.tessel")).ok());
  absl::StatusOr<proto::Executable> read =
      readExecutable(tempPath("tiny.tessel"));
  ASSERT_TRUE(read.ok()) << read.status();
  HostBackend backend(2);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(*read, "/nonexistent");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  HostTensor x{proto::F32, {2, 3}, std::vector<char>(24)};
  for (int i = 0; i < 6; ++i)
    x.as<float>()[i] = 0.5f * i;
  absl::StatusOr<std::vector<HostTensor>> y = (*loaded)->run({x});
  ASSERT_TRUE(y.ok()) << y.status();
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR((*y)[0].as<float>()[i], std::exp(0.5f * i) + 1, 1e-5);
}

TEST(ExecutableTest, RejectsWhatItDoesNotUnderstand) {
  proto::Executable executable = tinyExecutable();
  executable.set_format_version(kExecutableFormatVersion + 1);
  absl::Status status = validateExecutable(executable);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("format version 2"), std::string::npos);

  executable = tinyExecutable();
  executable.mutable_programs(0)->mutable_instructions(0)->set_results(0, 7);
  status = validateExecutable(executable);
  EXPECT_NE(status.message().find("uses buffer 7 of 2"), std::string::npos)
      << status;

  executable = tinyExecutable();
  executable.mutable_programs(0)->mutable_buffers(1)->set_offset(64);
  EXPECT_NE(validateExecutable(executable).message().find("beyond the arena"),
            std::string::npos);

  executable = tinyExecutable();
  executable.mutable_programs(0)->mutable_instructions(0)->set_op("frobnicate");
  HostBackend backend(1);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(executable, ".");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            "the host backend has no kernel 'frobnicate' (instruction for "
            "tensor 'y')");
}

// Found by tests/fuzz:executable_fuzzer: byte counts of huge shapes
// overflowed int64 (undefined, and a wrapped count could pass the checks).
TEST(ExecutableTest, RejectsShapesTooLargeToCount) {
  proto::Executable executable = tinyExecutable();
  executable.mutable_programs(0)->mutable_buffers(1)->set_dims(0, int64_t(1)
                                                                      << 62);
  EXPECT_NE(validateExecutable(executable)
                .message()
                .find("buffer 1 has more bytes than can be counted"),
            std::string::npos);

  executable = tinyExecutable();
  executable.mutable_inputs(0)->set_dims(1, int64_t(1) << 62);
  EXPECT_NE(validateExecutable(executable)
                .message()
                .find("tensor 'x' has a negative dimension or more bytes"),
            std::string::npos);

  executable = tinyExecutable();
  for (int i = 0; i < 3; ++i) {
    proto::MeshAxis *axis = executable.mutable_mesh()->add_axes();
    axis->set_name(absl::StrCat("a", i));
    axis->set_size(int64_t(1) << 30);
  }
  EXPECT_NE(validateExecutable(executable).message().find("too many devices"),
            std::string::npos);
}

// A parameter the executable views with another shape of the same
// elements (a fused q/k/v weight viewed per part) is found in a parameter
// file by its stored shape; a view of another element count is malformed.
TEST(ExecutableTest, ParametersAreFoundByTheirStoredShape) {
  proto::TensorSpec spec;
  spec.set_name("qkv.weight");
  spec.set_element_type(proto::F32);
  for (int64_t dim : {3, 4, 4})
    spec.add_dims(dim);
  for (int64_t dim : {12, 4})
    spec.add_stored_dims(dim);
  EXPECT_EQ(
      std::vector<int64_t>(storedDims(spec).begin(), storedDims(spec).end()),
      (std::vector<int64_t>{12, 4}));
  std::string bytes(48 * sizeof(float), '\0');
  ParameterSet file("weights.params");
  file.addOwned("qkv.weight", proto::F32, {12, 4}, bytes);
  EXPECT_TRUE(findParameter(file, spec).ok());

  ParameterSet viewed("viewed.params");
  viewed.addOwned("qkv.weight", proto::F32, {3, 4, 4}, bytes);
  absl::StatusOr<const proto::ParameterEntry *> entry =
      findParameter(viewed, spec);
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.status().message(),
            "parameter 'qkv.weight' is 3x4x4xf32 in 'viewed.params' but the "
            "executable expects 12x4xf32");

  proto::Executable executable = tinyExecutable();
  executable.mutable_inputs(0)->add_stored_dims(5);
  EXPECT_NE(validateExecutable(executable)
                .message()
                .find("tensor 'x' is viewed as 2x3 but stored as 5, which has "
                      "another number of elements"),
            std::string::npos)
      << validateExecutable(executable).message();
}

TEST(ExecutableTest, RunChecksInputs) {
  HostBackend backend(1);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(tinyExecutable(), ".");
  ASSERT_TRUE(loaded.ok());
  HostTensor wrong{proto::F32, {3, 2}, std::vector<char>(24)};
  absl::StatusOr<std::vector<HostTensor>> result = (*loaded)->run({wrong});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "input 'x' is 3x2xf32 but the program expects 2x3xf32");
  EXPECT_FALSE((*loaded)->run({}).ok());
}

TEST(NpyTest, RoundTripsEveryDtype) {
  for (proto::ElementType type :
       {proto::F32, proto::F64, proto::F16, proto::I32, proto::I64, proto::I1,
        proto::I8, proto::U8, proto::I16, proto::U16, proto::U32}) {
    HostTensor tensor{type, {2, 1, 3}, {}};
    tensor.bytes.resize(6 * elementByteSize(type));
    for (size_t i = 0; i < tensor.bytes.size(); ++i)
      tensor.bytes[i] = static_cast<char>(type == proto::I1 ? i % 2 : i * 7);
    std::string path = tempPath("t" + std::to_string(type) + ".npy");
    ASSERT_TRUE(writeNpy(path, tensor).ok());
    absl::StatusOr<HostTensor> read = readNpy(path);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->type, type);
    EXPECT_EQ(read->dims, tensor.dims);
    EXPECT_EQ(read->bytes, tensor.bytes);
  }
  HostTensor bf16{proto::BF16, {1}, std::vector<char>(2)};
  EXPECT_FALSE(writeNpy(tempPath("bf16.npy"), bf16).ok());
}

TEST(NpyTest, RejectsMalformedFiles) {
  {
    std::string header =
        "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n";
    std::ofstream out(tempPath("bad.npy"), std::ios::binary);
    out << "\x93NUMPY\x01" << '\0' << static_cast<char>(header.size()) << '\0'
        << header << std::string(16, '\0');
  }
  absl::StatusOr<HostTensor> read = readNpy(tempPath("bad.npy"));
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("dtype '<c8'"), std::string::npos)
      << read.status();
  {
    std::ofstream out(tempPath("text.npy"));
    out << "not numpy";
  }
  EXPECT_NE(
      readNpy(tempPath("text.npy")).status().message().find("no .npy magic"),
      std::string::npos);
}

TEST(ThreadPoolTest, CoversTheRangeOnceFromEveryThread) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 7, 1000, 100003}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallelFor(n, 10, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        ++hits[i];
    });
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(hits[i], 1) << "n=" << n << " i=" << i;
  }
}

// Every device runs once per call, device 0 on the caller, each on a thread
// of its own (they wait for each other here, as in a collective), over many
// calls; an unused set of threads shuts down.
TEST(DeviceThreadsTest, RunsEveryDeviceOnItsOwnThreadPerCall) {
  for (int devices : {1, 2, 5}) {
    DeviceThreads threads(devices);
    for (int call = 0; call < 200; ++call) {
      std::vector<int> runs(devices, 0);
      std::vector<std::thread::id> ids(devices);
      std::atomic<int> arrived{0};
      threads.run([&](int d) {
        ++runs[d];
        ids[d] = std::this_thread::get_id();
        ++arrived;
        // A barrier: each waits for all (bounded, so a bug fails, not hangs).
        auto deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (arrived < devices && std::chrono::steady_clock::now() < deadline)
          std::this_thread::yield();
      });
      ASSERT_EQ(arrived, devices) << "call " << call;
      for (int d = 0; d < devices; ++d)
        ASSERT_EQ(runs[d], 1) << "device " << d << ", call " << call;
      EXPECT_EQ(ids[0], std::this_thread::get_id());
      for (int d = 1; d < devices; ++d)
        for (int e = 0; e < d; ++e)
          EXPECT_NE(ids[d], ids[e]);
    }
  }
  DeviceThreads unused(4);
}

} // namespace
} // namespace tessel
