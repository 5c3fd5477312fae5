#include "api/oip_conversion.h"

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace catdog::api {
namespace {

constexpr char kBytesInput[] = "image";
constexpr char kPixelsInput[] = "input";
constexpr char kProbabilities[] = "probabilities";
constexpr char kLabel[] = "label";

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("ModelInfer: ", what));
}

std::string Shape(const google::protobuf::RepeatedField<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// A raw BYTES tensor: each element a 4-byte little-endian length, then its bytes.
absl::StatusOr<std::vector<std::string_view>> SplitRawBytes(std::string_view raw, int64_t count) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at < raw.size()) {
    if (raw.size() - at < 4) return Bad("raw BYTES input ends inside an element's length");
    uint32_t n = 0;
    for (int k = 3; k >= 0; --k) n = (n << 8) | static_cast<uint8_t>(raw[at + static_cast<size_t>(k)]);
    at += 4;
    if (raw.size() - at < n) return Bad("raw BYTES element runs past the end of its input");
    if (static_cast<int64_t>(out.size()) == count) return Bad("raw BYTES input holds more elements than its shape");
    out.push_back(raw.substr(at, n));
    at += n;
  }
  if (static_cast<int64_t>(out.size()) != count) {
    return Bad(absl::StrCat("raw BYTES input holds ", out.size(), " elements, its shape says ", count));
  }
  return out;
}

void AppendRawBytes(std::string* raw, std::string_view element) {
  const auto n = static_cast<uint32_t>(element.size());
  for (int k = 0; k < 4; ++k) raw->push_back(static_cast<char>((n >> (8 * k)) & 0xff));
  raw->append(element);
}

}  // namespace

absl::StatusOr<OipInputs> ParseModelInferRequest(const inference::ModelInferRequest& request, int image_size,
                                                 int max_images) {
  if (!request.model_name().empty() && request.model_name() != kOipModelName) {
    return absl::NotFoundError(absl::StrCat("no model '", request.model_name().substr(0, 64), "'; catdogd serves '",
                                            kOipModelName, "'"));
  }
  if (request.inputs_size() != 1) {
    return Bad(absl::StrCat("send one input ('", kBytesInput, "' BYTES or '", kPixelsInput, "' FP32), got ",
                            request.inputs_size()));
  }
  OipInputs out;
  for (const auto& wanted : request.outputs()) {
    if (wanted.name() != kProbabilities && wanted.name() != kLabel) {
      return Bad(absl::StrCat("no output '", wanted.name().substr(0, 64), "' (there are '", kProbabilities, "' and '",
                              kLabel, "')"));
    }
  }
  if (request.outputs_size() > 0) {
    out.probabilities = out.label = false;
    for (const auto& wanted : request.outputs()) (wanted.name() == kLabel ? out.label : out.probabilities) = true;
  }
  const auto& input = request.inputs(0);
  out.raw = request.raw_input_contents_size() > 0;
  if (out.raw && request.raw_input_contents_size() != 1) return Bad("one raw_input_contents per input");
  const auto& shape = input.shape();
  if (shape.empty() || shape[0] < 1) return Bad(absl::StrCat("input shape ", Shape(shape), " has no images"));
  if (shape[0] > max_images) {
    return Bad(absl::StrCat(shape[0], " images in one request; the server accepts at most ", max_images));
  }
  const int64_t n = shape[0];

  if (input.datatype() == "BYTES") {
    if (!(shape.size() == 1 || (shape.size() == 2 && shape[1] == 1))) {
      return Bad(absl::StrCat("a BYTES input has shape [N] or [N, 1], got ", Shape(shape)));
    }
    if (out.raw) {
      absl::StatusOr<std::vector<std::string_view>> split = SplitRawBytes(request.raw_input_contents(0), n);
      if (!split.ok()) return split.status();
      out.encoded = *std::move(split);
    } else {
      if (input.contents().bytes_contents_size() != n) {
        return Bad(absl::StrCat("shape says ", n, " images, bytes_contents holds ",
                                input.contents().bytes_contents_size()));
      }
      for (const std::string& image : input.contents().bytes_contents()) out.encoded.push_back(image);
    }
    return out;
  }
  if (input.datatype() == "FP32") {
    if (shape.size() != 4 || shape[1] != 3 || shape[2] != image_size || shape[3] != image_size) {
      return Bad(absl::StrCat("an FP32 input has shape [N, 3, ", image_size, ", ", image_size,
                              "] for the served model, got ", Shape(shape)));
    }
    const size_t per_image = 3 * static_cast<size_t>(image_size) * static_cast<size_t>(image_size);
    const float* values = nullptr;
    if (out.raw) {
      const std::string& raw = request.raw_input_contents(0);
      if (raw.size() != static_cast<size_t>(n) * per_image * sizeof(float)) {
        return Bad(absl::StrCat("raw FP32 input of ", raw.size(), " bytes; shape ", Shape(shape), " needs ",
                                static_cast<size_t>(n) * per_image * sizeof(float)));
      }
      values = reinterpret_cast<const float*>(raw.data());  // little endian, as the protocol's raw form
    } else {
      if (static_cast<size_t>(input.contents().fp32_contents_size()) != static_cast<size_t>(n) * per_image) {
        return Bad(absl::StrCat("fp32_contents holds ", input.contents().fp32_contents_size(), " values; shape ",
                                Shape(shape), " needs ", static_cast<size_t>(n) * per_image));
      }
      values = input.contents().fp32_contents().data();
    }
    const int plane = image_size * image_size;
    for (int64_t i = 0; i < n; ++i) {
      cv::Mat hwc(image_size, image_size, CV_32FC3);
      float* dst = hwc.ptr<float>();
      const float* src = values + static_cast<size_t>(i) * per_image;
      for (int p = 0; p < plane; ++p) {
        for (int c = 0; c < 3; ++c) {
          float v;
          std::memcpy(&v, src + c * plane + p, sizeof(v));  // raw bytes need not be aligned
          if (!std::isfinite(v)) return Bad(absl::StrCat("input ", i, " holds a NaN or infinite value"));
          dst[p * 3 + c] = v;
        }
      }
      out.pixels.push_back(std::move(hwc));
    }
    return out;
  }
  return Bad(absl::StrCat("input datatype '", input.datatype().substr(0, 16), "'; use BYTES ('", kBytesInput,
                          "', encoded images) or FP32 ('", kPixelsInput, "', N x 3 x ", image_size, " x ",
                          image_size, ")"));
}

inference::ModelInferResponse ModelInferResponseFromResult(const common::ClassifyResult& result,
                                                           const OipInputs& inputs, const std::string& request_id) {
  inference::ModelInferResponse response;
  response.set_model_name(kOipModelName);
  response.set_model_version(result.model_id);
  response.set_id(request_id);
  (*response.mutable_parameters())["class_names"].set_string_param(nlohmann::json(result.class_names).dump());
  const auto n = static_cast<int64_t>(result.images.size());
  const auto classes = static_cast<int64_t>(result.class_names.size());
  if (inputs.probabilities) {
    auto* out = response.add_outputs();
    out->set_name(kProbabilities);
    out->set_datatype("FP32");
    out->add_shape(n);
    out->add_shape(classes);
    std::string* raw = inputs.raw ? response.add_raw_output_contents() : nullptr;
    for (const common::ClassifiedImage& image : result.images) {
      for (float p : image.prediction.probabilities) {
        if (raw != nullptr) {
          raw->append(reinterpret_cast<const char*>(&p), sizeof(p));
        } else {
          out->mutable_contents()->add_fp32_contents(p);
        }
      }
    }
  }
  if (inputs.label) {
    auto* out = response.add_outputs();
    out->set_name(kLabel);
    out->set_datatype("BYTES");
    out->add_shape(n);
    std::string* raw = inputs.raw ? response.add_raw_output_contents() : nullptr;
    for (const common::ClassifiedImage& image : result.images) {
      const std::string& name = result.class_names.at(static_cast<size_t>(image.prediction.class_index));
      if (raw != nullptr) {
        AppendRawBytes(raw, name);
      } else {
        out->mutable_contents()->add_bytes_contents(name);
      }
    }
  }
  return response;
}

inference::ModelMetadataResponse ModelMetadataFor(const std::string& version, int image_size, int num_classes) {
  inference::ModelMetadataResponse m;
  m.set_name(kOipModelName);
  m.add_versions(version);
  m.set_platform("catdog_vgg16");
  auto add = [](auto* list, const char* name, const char* type, std::initializer_list<int64_t> shape) {
    auto* t = list->Add();
    t->set_name(name);
    t->set_datatype(type);
    for (int64_t d : shape) t->add_shape(d);
  };
  add(m.mutable_inputs(), kBytesInput, "BYTES", {-1});
  add(m.mutable_inputs(), kPixelsInput, "FP32", {-1, 3, image_size, image_size});
  add(m.mutable_outputs(), kProbabilities, "FP32", {-1, num_classes});
  add(m.mutable_outputs(), kLabel, "BYTES", {-1});
  return m;
}

}  // namespace catdog::api
