#include "common/ml/tensor_conversion.h"

#include <cstring>

#include <torch/torch.h>

namespace catdog::common {
namespace {

// Copies one continuous-or-not HxWx3 uint8 image into `dst` (H*W*3 bytes).
void CopyPixels(const cv::Mat& rgb, uint8_t* dst) {
  const size_t row_bytes = static_cast<size_t>(rgb.cols) * 3;
  if (rgb.isContinuous()) {
    std::memcpy(dst, rgb.data, row_bytes * static_cast<size_t>(rgb.rows));
    return;
  }
  for (int r = 0; r < rgb.rows; ++r) std::memcpy(dst + row_bytes * r, rgb.ptr<uint8_t>(r), row_bytes);
}

}  // namespace

at::Tensor ToTensor(const cv::Mat& rgb) {
  auto hwc = torch::empty({rgb.rows, rgb.cols, 3}, torch::kUInt8);
  CopyPixels(rgb, hwc.data_ptr<uint8_t>());
  return hwc.permute({2, 0, 1}).to(torch::kFloat32).div_(255.0f).contiguous();
}

at::Tensor Normalize(const at::Tensor& images, const std::array<float, 3>& mean,
                     const std::array<float, 3>& std) {
  const bool batched = images.dim() == 4;
  auto shape = batched ? std::vector<int64_t>{1, 3, 1, 1} : std::vector<int64_t>{3, 1, 1};
  auto m = torch::tensor({mean[0], mean[1], mean[2]}).view(shape);
  auto s = torch::tensor({std[0], std[1], std[2]}).view(shape);
  return (images - m.to(images.device())) / s.to(images.device());
}

at::Tensor ImagesToBatch(const std::vector<cv::Mat>& images, const Preprocessing& preprocessing) {
  const int64_t n = static_cast<int64_t>(images.size());
  const int64_t h = n > 0 ? images[0].rows : 0;
  const int64_t w = n > 0 ? images[0].cols : 0;
  auto nhwc = torch::empty({n, h, w, 3}, torch::kUInt8);
  uint8_t* dst = nhwc.data_ptr<uint8_t>();
  for (const cv::Mat& img : images) {
    CopyPixels(img, dst);
    dst += h * w * 3;
  }
  auto batch = nhwc.permute({0, 3, 1, 2}).to(torch::kFloat32).div_(255.0f).contiguous();
  if (preprocessing.normalize) batch = Normalize(batch, preprocessing.mean, preprocessing.std);
  return batch;
}

}  // namespace catdog::common
