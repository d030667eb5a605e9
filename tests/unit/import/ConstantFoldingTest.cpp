//===- ConstantFoldingTest.cpp - Import-time evaluation of ONNX nodes -----===//

#include "compiler/import/onnx/ConstantFolding.h"

#include <limits>

#include "compiler/import/onnx/OnnxSemantics.h"
#include "gtest/gtest.h"

namespace tessel::onnx_import {
namespace {

using onnx::TensorProto;

onnx::NodeProto makeNode(const std::string &opType, int inputs) {
  onnx::NodeProto node;
  node.set_op_type(opType);
  node.set_name(opType);
  for (int i = 0; i < inputs; ++i)
    node.add_input("in" + std::to_string(i));
  node.add_output("out");
  return node;
}

void addInt(onnx::NodeProto &node, const std::string &name, int64_t value) {
  onnx::AttributeProto *attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INT);
  attribute->set_i(value);
}

/// Folds `node` and returns its single result, failing the test otherwise.
StaticTensor fold(const onnx::NodeProto &node, int64_t opset,
                  std::vector<const StaticTensor *> inputs) {
  absl::StatusOr<std::optional<std::vector<StaticTensor>>> result =
      foldNode(node, opset, inputs);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok() || !result->has_value()) {
    ADD_FAILURE() << node.op_type() << " was not folded";
    return {};
  }
  return (**result)[0];
}

TEST(ConstantFoldingTest, ShapeChainOfADynamicReshape) {
  // torch's view(batch, length, heads, head) of a [2, 16, 64] tensor:
  // Gather(shape, 0) and Gather(shape, 1), each unsqueezed, concatenated
  // with constants, as Reshape's shape input.
  StaticTensor shape = StaticTensor::vector({2, 16, 64});
  StaticTensor zero = StaticTensor::ofInts(TensorProto::INT64, {}, {0});
  StaticTensor one = StaticTensor::ofInts(TensorProto::INT64, {}, {1});
  StaticTensor axes = StaticTensor::vector({0});

  onnx::NodeProto gather = makeNode("Gather", 2);
  StaticTensor batch = fold(gather, 13, {&shape, &zero});
  StaticTensor length = fold(gather, 13, {&shape, &one});
  EXPECT_TRUE(batch.shape.empty());
  EXPECT_EQ(batch.ints, std::vector<int64_t>{2});
  EXPECT_EQ(length.ints, std::vector<int64_t>{16});

  onnx::NodeProto unsqueeze = makeNode("Unsqueeze", 2);
  StaticTensor batch1 = fold(unsqueeze, 13, {&batch, &axes});
  StaticTensor length1 = fold(unsqueeze, 13, {&length, &axes});
  EXPECT_EQ(batch1.shape, std::vector<int64_t>{1});

  StaticTensor heads = StaticTensor::vector({4});
  StaticTensor head = StaticTensor::vector({16});
  onnx::NodeProto concat = makeNode("Concat", 4);
  addInt(concat, "axis", 0);
  StaticTensor target = fold(concat, 13, {&batch1, &length1, &heads, &head});
  EXPECT_EQ(target.ints, (std::vector<int64_t>{2, 16, 4, 16}));
  EXPECT_EQ(target.shape, std::vector<int64_t>{4});
}

TEST(ConstantFoldingTest, OpsetDifferencesOfUnsqueezeAndSlice) {
  StaticTensor scalar = StaticTensor::ofInts(TensorProto::INT64, {}, {7});
  // Before opset 13, Unsqueeze's axes are an attribute.
  onnx::NodeProto unsqueeze = makeNode("Unsqueeze", 1);
  onnx::AttributeProto *axes = unsqueeze.add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  axes->add_ints(0);
  axes->add_ints(-1);
  StaticTensor unsqueezed = fold(unsqueeze, 11, {&scalar});
  EXPECT_EQ(unsqueezed.shape, (std::vector<int64_t>{1, 1}));

  // Opset-10+ Slice with INT64_MAX as "to the end" and a negative step.
  StaticTensor data = StaticTensor::vector({0, 1, 2, 3, 4, 5});
  StaticTensor starts = StaticTensor::vector({-1});
  StaticTensor ends =
      StaticTensor::vector({std::numeric_limits<int64_t>::min()});
  StaticTensor steps = StaticTensor::vector({-2});
  StaticTensor sliceAxes = StaticTensor::vector({0});
  StaticTensor reversed = fold(makeNode("Slice", 5), 13,
                               {&data, &starts, &ends, &sliceAxes, &steps});
  EXPECT_EQ(reversed.ints, (std::vector<int64_t>{5, 3, 1}));
}

TEST(ConstantFoldingTest, ArithmeticBroadcastsAndRoundsToTheElementType) {
  StaticTensor a = StaticTensor::ofFloats(TensorProto::FLOAT, {2, 1}, {1, 2});
  StaticTensor b =
      StaticTensor::ofFloats(TensorProto::FLOAT, {3}, {0.1, 0.2, 0.3});
  StaticTensor sum = fold(makeNode("Add", 2), 13, {&a, &b});
  EXPECT_EQ(sum.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(sum.floats.size(), 6u);
  // Float32 arithmetic, as a run would compute it.
  EXPECT_EQ(sum.floats[0], static_cast<double>(1.0f + 0.1f));
  EXPECT_EQ(sum.floats[5], static_cast<double>(2.0f + 0.3f));

  StaticTensor seven = StaticTensor::ofInts(TensorProto::INT64, {}, {-7});
  StaticTensor two = StaticTensor::ofInts(TensorProto::INT64, {}, {2});
  EXPECT_EQ(fold(makeNode("Div", 2), 13, {&seven, &two}).ints,
            std::vector<int64_t>{-3});
  StaticTensor zero = StaticTensor::ofInts(TensorProto::INT64, {}, {0});
  absl::StatusOr<std::optional<std::vector<StaticTensor>>> byZero =
      foldNode(makeNode("Div", 2), 13, {&seven, &zero});
  EXPECT_FALSE(byZero.ok());

  StaticTensor equal = fold(makeNode("Equal", 2), 13, {&seven, &seven});
  EXPECT_EQ(equal.dataType, TensorProto::BOOL);
  EXPECT_EQ(equal.ints, std::vector<int64_t>{1});
}

TEST(ConstantFoldingTest, CastRangeConstantOfShapeAndWhere) {
  onnx::NodeProto cast = makeNode("Cast", 1);
  addInt(cast, "to", TensorProto::INT32);
  StaticTensor values =
      StaticTensor::ofFloats(TensorProto::FLOAT, {3}, {1.9, -1.9, 3e9});
  StaticTensor casted = fold(cast, 13, {&values});
  EXPECT_EQ(casted.dataType, TensorProto::INT32);
  EXPECT_EQ(casted.ints[0], 1);
  EXPECT_EQ(casted.ints[1], -1);

  StaticTensor start = StaticTensor::ofInts(TensorProto::INT64, {}, {0});
  StaticTensor limit = StaticTensor::ofInts(TensorProto::INT64, {}, {10});
  StaticTensor delta = StaticTensor::ofInts(TensorProto::INT64, {}, {3});
  EXPECT_EQ(fold(makeNode("Range", 3), 13, {&start, &limit, &delta}).ints,
            (std::vector<int64_t>{0, 3, 6, 9}));

  StaticTensor shape = StaticTensor::vector({2, 2});
  StaticTensor filled = fold(makeNode("ConstantOfShape", 1), 13, {&shape});
  EXPECT_EQ(filled.dataType, TensorProto::FLOAT);
  EXPECT_EQ(filled.floats, (std::vector<double>{0, 0, 0, 0}));

  StaticTensor condition = StaticTensor::ofInts(TensorProto::BOOL, {2}, {1, 0});
  StaticTensor ifTrue = StaticTensor::vector({10, 20});
  StaticTensor ifFalse = StaticTensor::ofInts(TensorProto::INT64, {}, {-1});
  StaticTensor selected =
      fold(makeNode("Where", 3), 13, {&condition, &ifTrue, &ifFalse});
  EXPECT_EQ(selected.ints, (std::vector<int64_t>{10, -1}));
}

TEST(ConstantFoldingTest, NotFoldedWhenOutsideTheSetOrTooLarge) {
  StaticTensor x = StaticTensor::vector({1, 2});
  absl::StatusOr<std::optional<std::vector<StaticTensor>>> matmul =
      foldNode(makeNode("MatMul", 2), 13, {&x, &x});
  ASSERT_TRUE(matmul.ok());
  EXPECT_FALSE(matmul->has_value());

  StaticTensor huge = StaticTensor::vector({1 << 20, 4});
  absl::StatusOr<std::optional<std::vector<StaticTensor>>> filled =
      foldNode(makeNode("ConstantOfShape", 1), 13, {&huge});
  ASSERT_TRUE(filled.ok());
  EXPECT_FALSE(filled->has_value());
}

TEST(ConstantFoldingTest, InvalidInputsAreErrors) {
  StaticTensor data = StaticTensor::vector({1, 2, 3});
  StaticTensor index = StaticTensor::ofInts(TensorProto::INT64, {}, {3});
  absl::StatusOr<std::optional<std::vector<StaticTensor>>> gathered =
      foldNode(makeNode("Gather", 2), 13, {&data, &index});
  ASSERT_FALSE(gathered.ok());
  EXPECT_EQ(gathered.status().message(),
            "index 3 is out of range for axis 0 of size 3");

  StaticTensor shape = StaticTensor::vector({2, -1, -1});
  absl::StatusOr<std::optional<std::vector<StaticTensor>>> reshaped =
      foldNode(makeNode("Reshape", 2), 13, {&data, &shape});
  ASSERT_FALSE(reshaped.ok());
  EXPECT_NE(reshaped.status().message().find("more than one -1"),
            std::string::npos);
}

TEST(OnnxSemanticsTest, ReshapeTargets) {
  EXPECT_EQ(*reshapeTarget({2, 3, 4}, {0, -1}, false),
            (std::vector<int64_t>{2, 12}));
  EXPECT_EQ(*reshapeTarget({2, 3, 4}, {4, 0, 2}, false),
            (std::vector<int64_t>{4, 3, 2}));
  EXPECT_FALSE(reshapeTarget({2, 3}, {4, -1}, false).ok());
  EXPECT_FALSE(reshapeTarget({2, 3}, {7}, false).ok());
}

TEST(OnnxSemanticsTest, BroadcastShapes) {
  EXPECT_EQ(*broadcastShapes({4, 1, 3}, {5, 1}),
            (std::vector<int64_t>{4, 5, 3}));
  absl::StatusOr<Shape> bad = broadcastShapes({2, 3}, {4});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "shapes [2, 3] and [4] do not broadcast");
}

TEST(OnnxSemanticsTest, SliceRangesClampLikeTheSpecification) {
  std::vector<SliceRange> ranges = *sliceRanges({10}, {-100}, {100}, {}, {});
  EXPECT_EQ(ranges[0].start, 0);
  EXPECT_EQ(ranges[0].size, 10);
  ranges = *sliceRanges({10}, {100}, {-100}, {}, {-3});
  EXPECT_EQ(ranges[0].start, 9);
  EXPECT_EQ(ranges[0].size, 4); // 9, 6, 3, 0
  ranges = *sliceRanges({10}, {5}, {2}, {}, {});
  EXPECT_EQ(ranges[0].size, 0);
  EXPECT_FALSE(sliceRanges({10}, {0}, {5}, {}, {0}).ok());
  EXPECT_FALSE(sliceRanges({10, 4}, {0, 0}, {5, 4}, {1, -1}, {}).ok());
}

// Found by tests/fuzz:onnx_importer_fuzzer: steps of INT64_MIN and
// INT64_MAX overflowed the element count (UBSan: negation overflow).
TEST(OnnxSemanticsTest, SliceRangesTakeExtremeSteps) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  std::vector<SliceRange> ranges = *sliceRanges({10}, {7}, {kMin}, {}, {kMin});
  EXPECT_EQ(ranges[0].start, 7);
  EXPECT_EQ(ranges[0].size, 1);
  ranges = *sliceRanges({10}, {2}, {kMax}, {}, {kMax});
  EXPECT_EQ(ranges[0].start, 2);
  EXPECT_EQ(ranges[0].size, 1);
  ranges = *sliceRanges({10}, {kMin}, {kMax}, {}, {kMax});
  EXPECT_EQ(ranges[0].size, 1);
  ranges = *sliceRanges({10}, {kMax}, {kMin}, {}, {-4});
  EXPECT_EQ(ranges[0].start, 9);
  EXPECT_EQ(ranges[0].size, 3); // 9, 5, 1
}

// Found by tests/fuzz:onnx_importer_fuzzer: element counts of huge shapes
// overflowed (UBSan).
TEST(OnnxSemanticsTest, ReshapeRejectsShapesTooLargeToCount) {
  constexpr int64_t kHuge = int64_t(1) << 62;
  absl::StatusOr<Shape> shape = reshapeTarget({4, kHuge}, {-1}, false);
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("more elements than can be counted"),
            std::string::npos);
  shape = reshapeTarget({4}, {kHuge, 4, -1}, false);
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("more elements than can be counted"),
            std::string::npos);
}

TEST(OnnxSemanticsTest, FloatAttributesWidenToTheirDecimal) {
  EXPECT_EQ(widenFloat(0.001f), 0.001);
  EXPECT_EQ(widenFloat(1e-5f), 1e-5);
  EXPECT_EQ(widenFloat(0.5f), 0.5);
}

} // namespace
} // namespace tessel::onnx_import
