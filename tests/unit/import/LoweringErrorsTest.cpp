//===- LoweringErrorsTest.cpp - What the ONNX lowerings refuse, and why ---===//
//
// A one-node model per case, imported: the error names the node, the op
// and the reason (the lowerings' happy paths are ONNX's node tests, run by
// tests/conformance).
//
//===----------------------------------------------------------------------===//

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/import/OneNodeModel.h"

namespace tessel {
namespace {

MATCHER_P(Says, text, "") { return arg.find(text) != std::string::npos; }

TEST(LoweringErrorsTest, RecurrentOps) {
  auto lstm = [] {
    return OneNode("LSTM", {{"X", TensorProto::FLOAT, {4, 2, 3}},
                            {"W", TensorProto::FLOAT, {1, 20, 3}},
                            {"R", TensorProto::FLOAT, {1, 20, 5}}},
                   {{"Y", TensorProto::FLOAT, {4, 1, 2, 5}},
                    {"Y_h", TensorProto::FLOAT, {1, 2, 5}}});
  };
  EXPECT_EQ(lstm().attribute("hidden_size", 5).importErrors(), "");
  EXPECT_THAT(lstm().attribute("hidden_size", 5)
                  .attribute("input_forget", 1)
                  .importErrors(),
              Says("input_forget is not supported"));
  EXPECT_THAT(lstm()
                  .attribute("hidden_size", 5)
                  .attribute("activations",
                             std::vector<std::string>{"Sigmoid", "Gelu",
                                                      "Tanh"})
                  .importErrors(),
              Says("activation 'Gelu' is not supported"));
  EXPECT_THAT(lstm().attribute("hidden_size", 4).importErrors(),
              Says("W must be 1x16x3 of X's element type"));
}

TEST(LoweringErrorsTest, SelectionsAndLosses) {
  EXPECT_THAT(OneNode("ArgMax", {{"x", TensorProto::BOOL, {3, 4}}},
                      {{"out0", TensorProto::INT64, {1, 4}}})
                  .importErrors(),
              Says("needs a numeric input, not booleans"));
  EXPECT_THAT(OneNode("GatherElements", {{"data", TensorProto::FLOAT, {3, 4}},
                                         {"i", TensorProto::INT64, {3}}})
                  .importErrors(),
              Says("data and indices must have the same rank"));
  EXPECT_THAT(
      OneNode("NegativeLogLikelihoodLoss",
              {{"input", TensorProto::FLOAT, {3, 5}},
               {"target", TensorProto::INT64, {4}}})
          .importErrors(),
      Says("the target's shape must be the input's without its class "
           "dimension"));
  // A depth computed from the model's inputs gives no static shape.
  EXPECT_THAT(OneNode("OneHot", {{"indices", TensorProto::INT64, {3}},
                                 {"depth", TensorProto::INT64, {1}},
                                 {"values", TensorProto::FLOAT, {2}}})
                  .importErrors(),
              Says("depth"));
  EXPECT_THAT(OneNode("DepthToSpace", {{"x", TensorProto::FLOAT, {1, 6, 2, 2}}})
                  .attribute("blocksize", 2)
                  .importErrors(),
              Says("must be a multiple of blocksize^2"));
}

TEST(LoweringErrorsTest, QuantizationAndWindows) {
  EXPECT_THAT(OneNode("QuantizeLinear", {{"x", TensorProto::FLOAT, {2, 3}},
                                         {"scale", TensorProto::FLOAT, {2}},
                                         {"zero", TensorProto::UINT8, {2}}})
                  .importErrors(),
              Says("the scale must be a scalar or a 1-D tensor of 3 "
                   "elements (dimension 1), not 2 elements"));
  EXPECT_THAT(OneNode("QuantizeLinear", {{"x", TensorProto::FLOAT, {2, 3}},
                                         {"scale", TensorProto::FLOAT, {}},
                                         {"zero", TensorProto::INT32, {}}})
                  .importErrors(),
              Says("quantizes to uint8 or int8 only"));
  EXPECT_THAT(OneNode("MatMulInteger", {{"a", TensorProto::INT32, {2, 3}},
                                        {"b", TensorProto::INT32, {3, 2}}})
                  .importErrors(),
              Says("operands must be uint8 or int8"));
  // A window's size must be known at import time (its output's shape).
  EXPECT_THAT(OneNode("HannWindow", {{"size", TensorProto::INT64, {1}}})
                  .importErrors(),
              Says("input 'size' must be known at import time"));
}

TEST(LoweringErrorsTest, SignalOps) {
  EXPECT_THAT(OneNode("DFT", {{"x", TensorProto::FLOAT, {1, 8, 3}}})
                  .importErrors(),
              Says("the signal's last dimension must be 1 (real) or 2 "
                   "(complex)"));
  EXPECT_THAT(OneNode("DFT", {{"x", TensorProto::FLOAT, {1, 8, 2}}})
                  .attribute("inverse", 1)
                  .attribute("onesided", 1)
                  .importErrors(),
              Says("a one-sided inverse transform is not supported"));
  // The frame step fixes the output's shape: it must be known now.
  EXPECT_THAT(OneNode("STFT", {{"signal", TensorProto::FLOAT, {1, 64, 1}},
                               {"step", TensorProto::INT64, {1}},
                               {"window", TensorProto::FLOAT, {16}}})
                  .importErrors(),
              Says("step"));
}

TEST(LoweringErrorsTest, RoiAlign) {
  auto roiAlign = [] {
    return OneNode("RoiAlign", {{"x", TensorProto::FLOAT, {1, 2, 8, 8}},
                                {"rois", TensorProto::FLOAT, {3, 4}},
                                {"batch", TensorProto::INT64, {3}}},
                   {{"y", TensorProto::FLOAT, {3, 2, 2, 2}}});
  };
  EXPECT_THAT(roiAlign()
                  .attribute("output_height", 2)
                  .attribute("output_width", 2)
                  .importErrors(),
              Says("sampling_ratio must be given"));
  EXPECT_THAT(roiAlign()
                  .attribute("sampling_ratio", 2)
                  .text("mode", "max")
                  .importErrors(),
              Says("mode 'max' is not supported (avg)"));
}

TEST(LoweringErrorsTest, Optimizers) {
  const std::string training = "ai.onnx.preview.training";
  // R, T, then X, G, V and H per tensor: six inputs, not four.
  EXPECT_THAT(OneNode("Adam", {{"R", TensorProto::FLOAT, {}},
                                   {"T", TensorProto::INT64, {}},
                                   {"X", TensorProto::FLOAT, {2}},
                                   {"G", TensorProto::FLOAT, {2}}})
                  .domain(training)
                  .importErrors(),
              Says("needs R, T and 4 tensors per optimized tensor"));
  EXPECT_THAT(OneNode("Adagrad", {{"R", TensorProto::FLOAT, {}},
                                  {"T", TensorProto::INT64, {}},
                                  {"X", TensorProto::FLOAT, {2}},
                                  {"G", TensorProto::FLOAT, {3}},
                                  {"H", TensorProto::FLOAT, {2}}})
                  .domain(training)
                  .importErrors(),
              Says("input 'G' must have the shape and type of 'X'"));
  EXPECT_THAT(OneNode("Gradient", {{"x", TensorProto::FLOAT, {2}}})
                  .domain(training)
                  .attribute("xs", std::vector<std::string>{"x"})
                  .text("y", "x")
                  .importErrors(),
              Says("operator Gradient of domain ai.onnx.preview.training is "
                   "not supported"));
}

} // namespace
} // namespace tessel
