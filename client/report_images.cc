#include "client/report_images.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/data/image_grid.h"
#include "common/data/image_io.h"

namespace catdog::client {
namespace {

const cv::Scalar kBlue(31, 119, 180), kOrange(255, 127, 14), kGreen(44, 160, 44), kRed(214, 39, 40),
    kGray(200, 200, 200), kBlack(30, 30, 30);

struct Series {
  std::string name;
  cv::Scalar color;
  std::vector<cv::Point2d> points;  // (epoch, value)
};

// One plot: axes with ticks, the series as lines with dots, a legend, a
// dashed vertical line at `marker_x` (0: none).
void DrawPanel(cv::Mat& image, const cv::Rect& area, const std::string& title, const std::vector<Series>& series,
               double marker_x) {
  double x_max = 1, y_min = INFINITY, y_max = -INFINITY;
  for (const Series& s : series) {
    for (const cv::Point2d& p : s.points) {
      x_max = std::max(x_max, p.x);
      y_min = std::min(y_min, p.y);
      y_max = std::max(y_max, p.y);
    }
  }
  if (!std::isfinite(y_min)) y_min = 0, y_max = 1;
  const double pad = std::max((y_max - y_min) * 0.08, 1e-3);
  y_min -= pad;
  y_max += pad;
  const cv::Rect plot(area.x + 60, area.y + 50, area.width - 75, area.height - 90);
  const auto to_pixel = [&](cv::Point2d p) {
    const double fx = (p.x - 0.7) / (x_max - 0.4);  // epochs 1..x_max with a margin either side
    return cv::Point(plot.x + static_cast<int>(fx * plot.width),
                     plot.y + plot.height - static_cast<int>((p.y - y_min) / (y_max - y_min) * plot.height));
  };
  cv::putText(image, title, cv::Point(plot.x, area.y + 20), cv::FONT_HERSHEY_SIMPLEX, 0.55, kBlack, 1, cv::LINE_AA);
  for (int t = 0; t <= 4; ++t) {  // y ticks and grid
    const double y = y_min + (y_max - y_min) * t / 4;
    const int py = to_pixel({1, y}).y;
    cv::line(image, {plot.x, py}, {plot.x + plot.width, py}, kGray, 1);
    cv::putText(image, absl::StrFormat("%.3f", y), cv::Point(area.x + 5, py + 4), cv::FONT_HERSHEY_SIMPLEX, 0.4,
                kBlack, 1, cv::LINE_AA);
  }
  const int step = std::max(1, static_cast<int>(std::ceil(x_max / 10)));
  for (int e = 1; e <= static_cast<int>(x_max); e += step) {  // x ticks
    const int px = to_pixel({static_cast<double>(e), y_min}).x;
    cv::line(image, {px, plot.y + plot.height}, {px, plot.y + plot.height + 4}, kBlack, 1);
    cv::putText(image, absl::StrCat(e), cv::Point(px - 4, plot.y + plot.height + 18), cv::FONT_HERSHEY_SIMPLEX, 0.4,
                kBlack, 1, cv::LINE_AA);
  }
  cv::putText(image, "epoch", cv::Point(plot.x + plot.width / 2 - 20, area.y + area.height - 8),
              cv::FONT_HERSHEY_SIMPLEX, 0.45, kBlack, 1, cv::LINE_AA);
  cv::rectangle(image, plot, kBlack, 1);
  if (marker_x > 0) {
    const int px = to_pixel({marker_x, y_min}).x;
    for (int y = plot.y; y < plot.y + plot.height; y += 8) cv::line(image, {px, y}, {px, y + 4}, kGray * 0.6, 1);
  }
  int legend_x = plot.x;  // one row between the title and the plot
  for (const Series& s : series) {
    std::vector<cv::Point> pixels;
    for (const cv::Point2d& p : s.points) pixels.push_back(to_pixel(p));
    if (pixels.size() > 1) cv::polylines(image, pixels, false, s.color, 2, cv::LINE_AA);
    for (const cv::Point& p : pixels) cv::circle(image, p, 3, s.color, cv::FILLED, cv::LINE_AA);
    cv::line(image, {legend_x, area.y + 36}, {legend_x + 20, area.y + 36}, s.color, 2);
    cv::putText(image, s.name, cv::Point(legend_x + 25, area.y + 40), cv::FONT_HERSHEY_SIMPLEX, 0.42, kBlack, 1,
                cv::LINE_AA);
    int baseline = 0;
    legend_x += 40 + cv::getTextSize(s.name, cv::FONT_HERSHEY_SIMPLEX, 0.42, 1, &baseline).width;
  }
}

}  // namespace

absl::Status WriteMistakesGrid(const v1::EvaluationReport& report, const std::string& out) {
  std::vector<common::LabelledTile> tiles;
  for (const v1::Mistake& m : report.mistakes()) {
    absl::StatusOr<cv::Mat> thumbnail = common::DecodeImage(m.thumbnail());
    if (!thumbnail.ok()) continue;
    tiles.push_back({*std::move(thumbnail),
                     absl::StrFormat("%s>%s %.2f", m.true_class(), m.predicted_class(), m.confidence()), kRed});
  }
  if (tiles.empty()) return absl::FailedPreconditionError("no mistakes to draw");
  return common::WriteImageFile(out, common::DrawLabelledGrid(tiles, std::min<int>(8, static_cast<int>(tiles.size())),
                                                              160));
}

absl::Status WriteCurves(const v1::Job& job, const std::string& out) {
  if (job.history().empty()) return absl::FailedPreconditionError(absl::StrCat(job.id(), " has no completed epoch"));
  Series train{"train loss", kBlue, {}}, valid{"valid loss", kOrange, {}}, accuracy{"valid accuracy", kGreen, {}};
  for (const v1::EpochMetrics& m : job.history()) {
    const double e = static_cast<double>(m.epoch());
    train.points.push_back({e, m.train_loss()});
    valid.points.push_back({e, m.valid_loss()});
    accuracy.points.push_back({e, m.valid_accuracy()});
  }
  std::vector<Series> accuracies{accuracy};
  const double last_epoch = job.history().rbegin()->epoch();
  for (const v1::EvalMetrics& t : job.test()) {
    const double at = t.checkpoint_kind() == "best" && job.best_epoch() > 0 ? job.best_epoch() : last_epoch;
    const cv::Scalar color = t.checkpoint_kind() == "best" ? kRed : kBlack;
    accuracies.push_back({absl::StrCat("test (", t.checkpoint_kind(), ")"), color, {{at, t.accuracy()}}});
  }
  cv::Mat image(440, 1000, CV_8UC3, cv::Scalar::all(255));
  const double best = static_cast<double>(job.best_epoch());
  DrawPanel(image, cv::Rect(0, 0, 500, 440), absl::StrCat(job.id(), ": loss"), {train, valid}, best);
  DrawPanel(image, cv::Rect(500, 0, 500, 440), absl::StrCat(job.id(), ": accuracy (dashed: best epoch)"), accuracies,
            best);
  return common::WriteImageFile(out, image);
}

}  // namespace catdog::client
