//===- NamesTest.cpp - Nearest names for mistyped ones --------------------===//

#include "runtime/Names.h"

#include <gtest/gtest.h>

namespace tessel {
namespace {

TEST(NamesTest, SuggestsTheNearestNameWithinAThirdOfItsLength) {
  std::vector<std::string> inputs = {"ids", "mask"};
  EXPECT_EQ(nearestName("idz", inputs), "ids");
  EXPECT_EQ(nearestName("MASK", inputs), "mask");
  EXPECT_EQ(nearestName("inptus", {"inputs", "outputs"}), "inputs");
  EXPECT_EQ(nearestName("blocks.0.fc1.weigth", {"blocks.0.fc1.weight",
                                                "blocks.1.fc1.weight"}),
            "blocks.0.fc1.weight");
  // Too far to be a slip.
  EXPECT_EQ(nearestName("onnx", {"mlir", "spmd", "plan"}), std::nullopt);
  EXPECT_EQ(nearestName("x", {"y"}), "y");
  EXPECT_EQ(nearestName("hots", {"host", "mpi"}), "host");
  EXPECT_EQ(nearestName("anything", {}), std::nullopt);
}

TEST(NamesTest, HintsListFewCandidatesOnly) {
  EXPECT_EQ(nameHint("idz", {"ids", "mask"}, "inputs"),
            "did you mean 'ids'? (the inputs: ids, mask)");
  EXPECT_EQ(nameHint("onnx", {"mlir", "plan"}, "values"),
            "(the values: mlir, plan)");
  std::vector<std::string> many;
  for (int i = 0; i < 20; ++i)
    many.push_back("tensor" + std::to_string(i));
  EXPECT_EQ(nameHint("tensor_3", many, "tensors"), "did you mean 'tensor3'?");
  EXPECT_EQ(nameHint("zzzzzzzz", many, "tensors"), "");
  EXPECT_EQ(withNameHint("no such tensor", "zzzzzzzz", many, "tensors"),
            "no such tensor");
  EXPECT_EQ(withNameHint("no such input", "idz", {"ids"}, "inputs"),
            "no such input; did you mean 'ids'? (the inputs: ids)");
  EXPECT_EQ(withNameHint("unknown value 'onnx'", "onnx", {"mlir"}, "values"),
            "unknown value 'onnx' (the values: mlir)");
}

} // namespace
} // namespace tessel
