#include "api/oip_conversion.h"

#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

namespace catdog::api {
namespace {

inference::ModelInferRequest BytesRequest(const std::vector<std::string>& images) {
  inference::ModelInferRequest r;
  r.set_model_name("catdog");
  auto* input = r.add_inputs();
  input->set_name("image");
  input->set_datatype("BYTES");
  input->add_shape(static_cast<int64_t>(images.size()));
  for (const std::string& image : images) input->mutable_contents()->add_bytes_contents(image);
  return r;
}

std::string RawBytes(const std::vector<std::string>& elements) {
  std::string raw;
  for (const std::string& e : elements) {
    const auto n = static_cast<uint32_t>(e.size());
    raw.append(reinterpret_cast<const char*>(&n), 4);
    raw += e;
  }
  return raw;
}

inference::ModelInferRequest Fp32Request(int n, int size, bool raw) {
  inference::ModelInferRequest r;
  auto* input = r.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  for (int64_t d : {int64_t{n}, int64_t{3}, int64_t{size}, int64_t{size}}) input->add_shape(d);
  std::vector<float> values(static_cast<size_t>(n) * 3 * size * size);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  if (raw) {
    r.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  } else {
    for (float v : values) input->mutable_contents()->add_fp32_contents(v);
  }
  return r;
}

TEST(OipConversionTest, BytesInContentsAndRawGiveTheSameImages) {
  const inference::ModelInferRequest request = BytesRequest({"abc", "", "z"});  // outlives the views
  absl::StatusOr<OipInputs> contents = ParseModelInferRequest(request, 32, 8);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->encoded, (std::vector<std::string_view>{"abc", "", "z"}));
  EXPECT_FALSE(contents->raw);

  inference::ModelInferRequest raw = BytesRequest({});
  raw.mutable_inputs(0)->set_shape(0, 3);
  raw.add_raw_input_contents(RawBytes({"abc", "", "z"}));
  absl::StatusOr<OipInputs> from_raw = ParseModelInferRequest(raw, 32, 8);
  ASSERT_TRUE(from_raw.ok()) << from_raw.status();
  EXPECT_EQ(from_raw->encoded, contents->encoded);
  EXPECT_TRUE(from_raw->raw);
}

TEST(OipConversionTest, Fp32NchwBecomesHwcImagesWithTheSameValues) {
  for (bool raw : {false, true}) {
    absl::StatusOr<OipInputs> in = ParseModelInferRequest(Fp32Request(2, 4, raw), 4, 8);
    ASSERT_TRUE(in.ok()) << in.status();
    ASSERT_EQ(in->pixels.size(), 2u);
    const cv::Mat& second = in->pixels[1];
    EXPECT_EQ(second.type(), CV_32FC3);
    // Element (n=1, c=2, y=3, x=1) of the NCHW tensor.
    EXPECT_EQ(second.at<cv::Vec3f>(3, 1)[2], static_cast<float>(1 * 48 + 2 * 16 + 3 * 4 + 1));
  }
}

TEST(OipConversionTest, MalformedRequestsAreInvalidArgumentSayingWhy) {
  const auto refused = [](const inference::ModelInferRequest& r, const std::string& why) {
    const absl::Status s = ParseModelInferRequest(r, 4, 8).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(why), std::string::npos) << s;
  };
  inference::ModelInferRequest two = BytesRequest({"a"});
  *two.add_inputs() = two.inputs(0);
  refused(two, "send one input");
  refused(BytesRequest({}), "no images");
  refused(BytesRequest(std::vector<std::string>(9, "a")), "at most 8");
  inference::ModelInferRequest count = BytesRequest({"a", "b"});
  count.mutable_inputs(0)->set_shape(0, 3);
  refused(count, "bytes_contents holds 2");
  inference::ModelInferRequest truncated = BytesRequest({});
  truncated.mutable_inputs(0)->set_shape(0, 1);
  truncated.add_raw_input_contents(RawBytes({"abcdef"}).substr(0, 7));
  refused(truncated, "runs past the end");
  inference::ModelInferRequest extra = BytesRequest({});
  extra.mutable_inputs(0)->set_shape(0, 1);
  extra.add_raw_input_contents(RawBytes({"a", "b"}));
  refused(extra, "more elements than its shape");
  refused(Fp32Request(1, 5, false), "[N, 3, 4, 4]");
  inference::ModelInferRequest short_raw = Fp32Request(1, 4, true);
  short_raw.mutable_raw_input_contents(0)->resize(10);
  refused(short_raw, "needs 192");
  inference::ModelInferRequest nan = Fp32Request(1, 4, false);
  nan.mutable_inputs(0)->mutable_contents()->set_fp32_contents(5, std::nanf(""));
  refused(nan, "NaN");
  inference::ModelInferRequest int8 = BytesRequest({"a"});
  int8.mutable_inputs(0)->set_datatype("INT8");
  refused(int8, "use BYTES");
  inference::ModelInferRequest output = BytesRequest({"a"});
  output.add_outputs()->set_name("logits");
  refused(output, "no output 'logits'");
  inference::ModelInferRequest other = BytesRequest({"a"});
  other.set_model_name("resnet");
  EXPECT_EQ(ParseModelInferRequest(other, 4, 8).status().code(), absl::StatusCode::kNotFound);
}

TEST(OipConversionTest, ResponseCarriesTheAskedOutputsInTheRequestsForm) {
  common::ClassifyResult result;
  result.model_id = "job-1/best";
  result.class_names = {"cat", "dog"};
  result.images.resize(2);
  result.images[0].prediction = {1, {0.25f, 0.75f}};
  result.images[1].prediction = {0, {0.9f, 0.1f}};
  OipInputs asked;
  inference::ModelInferResponse r = ModelInferResponseFromResult(result, asked, "id-7");
  EXPECT_EQ(r.model_version(), "job-1/best");
  EXPECT_EQ(r.id(), "id-7");
  EXPECT_EQ(r.parameters().at("class_names").string_param(), R"(["cat","dog"])");
  ASSERT_EQ(r.outputs_size(), 2);
  EXPECT_EQ(r.outputs(0).name(), "probabilities");
  EXPECT_EQ(std::vector<float>(r.outputs(0).contents().fp32_contents().begin(),
                               r.outputs(0).contents().fp32_contents().end()),
            (std::vector<float>{0.25f, 0.75f, 0.9f, 0.1f}));
  EXPECT_EQ(r.outputs(1).contents().bytes_contents(0), "dog");
  EXPECT_EQ(r.outputs(1).contents().bytes_contents(1), "cat");

  asked.raw = true;
  asked.probabilities = false;
  r = ModelInferResponseFromResult(result, asked, "");
  ASSERT_EQ(r.outputs_size(), 1);
  ASSERT_EQ(r.raw_output_contents_size(), 1);
  EXPECT_EQ(r.raw_output_contents(0), RawBytes({"dog", "cat"}));
}

}  // namespace
}  // namespace catdog::api
