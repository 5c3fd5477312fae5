// The Open Inference Protocol (KServe v2, inference.GRPCInferenceService) <->
// catdog's serving records. catdogd serves one model at a time; to OIP it is
// the model "catdog", whose version is the served model's id. Inputs (one
// per request):
//   "image": BYTES, shape [N] or [N, 1], each element an encoded image;
//   "input": FP32, shape [N, 3, S, S] at the model's input size S, the
//            values the network takes (scaled to [0, 1], normalised when the
//            model card says so).
// Outputs: "probabilities" FP32 [N, C] and "label" BYTES [N]; the response
// parameter "class_names" holds the C names as a JSON array. A request in
// raw_input_contents is answered in raw_output_contents. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "absl/status/statusor.h"
#include "common/data/serving_types.h"
#include "inference/grpc_predict_v2.pb.h"

namespace catdog::api {

inline constexpr char kOipModelName[] = "catdog";

struct OipInputs {
  std::vector<std::string_view> encoded;  // "image": views into the request
  std::vector<cv::Mat> pixels;            // "input": one CV_32FC3 per image
  bool raw = false;                       // answer in raw_output_contents
  bool probabilities = true;              // outputs asked for
  bool label = true;
};

// INVALID_ARGUMENT naming what is wrong. `image_size` is the served model's;
// `max_images` bounds N before anything is copied.
absl::StatusOr<OipInputs> ParseModelInferRequest(const inference::ModelInferRequest& request, int image_size,
                                                 int max_images);

inference::ModelInferResponse ModelInferResponseFromResult(const common::ClassifyResult& result,
                                                           const OipInputs& inputs, const std::string& request_id);

inference::ModelMetadataResponse ModelMetadataFor(const std::string& version, int image_size, int num_classes);

}  // namespace catdog::api
