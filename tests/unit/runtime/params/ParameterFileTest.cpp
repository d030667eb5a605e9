//===- ParameterFileTest.cpp - Writing and reading parameter files --------===//

#include "runtime/params/ParameterFile.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tessel {
namespace {

std::string tempPath(const std::string &name) {
  const char *dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

std::vector<char> bytesOf(const std::vector<float> &values) {
  const char *data = reinterpret_cast<const char *>(values.data());
  return std::vector<char>(data, data + values.size() * sizeof(float));
}

TEST(ParameterFileTest, RoundTripsInlineAndExternalEntries) {
  std::vector<float> weight = {1, 2, 3, 4, 5, 6};
  std::vector<char> weightBytes = bytesOf(weight);
  std::vector<char> flag = {1};
  // An "external data" file with 3 floats at offset 8.
  std::vector<float> external = {0, 0, 7, 8, 9};
  {
    std::ofstream out(tempPath("external.bin"), std::ios::binary);
    out.write(reinterpret_cast<const char *>(external.data()),
              external.size() * sizeof(float));
  }
  ParameterSet writer;
  writer.add("fc.weight", proto::F32, {2, 3}, weightBytes);
  writer.addExternal("emb", proto::F32, {3}, "external.bin", 8, 12);
  writer.add("flag", proto::I1, {1}, flag);
  ASSERT_TRUE(writer.write(tempPath("model.params")).ok());

  absl::StatusOr<ParameterFile> file =
      ParameterFile::open(tempPath("model.params"));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->index().entries_size(), 3);

  absl::StatusOr<const proto::ParameterEntry *> entry = file->find("fc.weight");
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ((*entry)->offset() % 64, 0u);
  std::vector<float> read(6);
  ASSERT_TRUE(file->read(**entry,
                         absl::Span<char>(reinterpret_cast<char *>(read.data()),
                                          read.size() * sizeof(float)))
                  .ok());
  EXPECT_EQ(read, weight);

  entry = file->find("emb");
  ASSERT_TRUE(entry.ok());
  std::vector<float> embedding(3);
  ASSERT_TRUE(
      file->read(**entry, absl::Span<char>(
                              reinterpret_cast<char *>(embedding.data()), 12))
          .ok());
  EXPECT_EQ(embedding, (std::vector<float>{7, 8, 9}));

  entry = file->find("flag");
  ASSERT_TRUE(entry.ok());
  char value = 0;
  ASSERT_TRUE(file->read(**entry, absl::Span<char>(&value, 1)).ok());
  EXPECT_EQ(value, 1);

  EXPECT_EQ(file->find("missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(ParameterFileTest, RejectsWhatItCannotRead) {
  {
    std::ofstream out(tempPath("not_params"), std::ios::binary);
    out << "hello, this is not a parameter file";
  }
  absl::StatusOr<ParameterFile> file =
      ParameterFile::open(tempPath("not_params"));
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("is not a Tessel parameter file"),
            std::string::npos);

  EXPECT_EQ(ParameterFile::open(tempPath("does_not_exist")).status().code(),
            absl::StatusCode::kNotFound);

  // A file cut short: the entry's bytes are missing.
  std::vector<char> bytes(1024, 'x');
  ParameterSet writer;
  writer.add("big", proto::I1, {1024}, bytes);
  ASSERT_TRUE(writer.write(tempPath("truncated.params")).ok());
  std::string contents;
  {
    std::ifstream in(tempPath("truncated.params"), std::ios::binary);
    contents.assign(std::istreambuf_iterator<char>(in), {});
  }
  {
    std::ofstream out(tempPath("truncated.params"),
                      std::ios::binary | std::ios::trunc);
    out.write(contents.data(), contents.size() - 100);
  }
  file = ParameterFile::open(tempPath("truncated.params"));
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("the file is truncated"),
            std::string::npos)
      << file.status();

  // A newer format version.
  contents[8] = 99;
  {
    std::ofstream out(tempPath("future.params"), std::ios::binary);
    out.write(contents.data(), contents.size());
  }
  file = ParameterFile::open(tempPath("future.params"));
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("format version 99"),
            std::string::npos)
      << file.status();
}

TEST(ParameterFileTest, MissingExternalFileIsNamed) {
  ParameterSet writer;
  writer.addExternal("w", proto::F32, {4}, "gone.bin", 0, 16);
  ASSERT_TRUE(writer.write(tempPath("external_missing.params")).ok());
  absl::StatusOr<ParameterFile> file =
      ParameterFile::open(tempPath("external_missing.params"));
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("parameter 'w' is stored in"),
            std::string::npos)
      << file.status();
  EXPECT_NE(file.status().message().find("gone.bin"), std::string::npos);
}

} // namespace
} // namespace tessel
