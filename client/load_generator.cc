#include "client/load_generator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace catdog::client {

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

absl::StatusOr<LoadReport> RunLoad(CatdogClient& client, const LoadOptions& o) {
  if (o.concurrency < 1) return absl::InvalidArgumentError("concurrency must be >= 1");
  if (o.images_per_request < 1) return absl::InvalidArgumentError("images per request must be >= 1");
  if (o.images.empty()) return absl::InvalidArgumentError("no images to send");
  if (o.requests <= 0 && o.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("give a request count or a duration");
  }
  const absl::StatusOr<v1::Stats> before = client.GetStats();

  std::atomic<int64_t> issued{0};
  std::atomic<int64_t> errors{0};
  absl::Mutex mu;
  std::vector<double> latencies_ms;
  const absl::Time start = absl::Now();
  const absl::Time end = o.requests > 0 ? absl::InfiniteFuture() : start + o.duration;
  std::vector<std::thread> callers;
  for (int w = 0; w < o.concurrency; ++w) {
    callers.emplace_back([&, w] {
      std::vector<double> mine;
      size_t next = static_cast<size_t>(w) * static_cast<size_t>(o.images_per_request);
      while (absl::Now() < end) {
        if (o.requests > 0 && issued.fetch_add(1) >= o.requests) break;
        v1::ClassifyRequest request;
        for (int i = 0; i < o.images_per_request; ++i) {
          request.add_images()->set_data(o.images[next++ % o.images.size()]);
        }
        const absl::Time sent = absl::Now();
        absl::StatusOr<v1::ClassifyResponse> response = client.Classify(request);
        if (!response.ok()) {
          ++errors;
          continue;
        }
        mine.push_back(absl::ToDoubleMilliseconds(absl::Now() - sent));
      }
      absl::MutexLock lock(&mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  for (std::thread& t : callers) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const absl::StatusOr<v1::Stats> after = client.GetStats();

  std::sort(latencies_ms.begin(), latencies_ms.end());
  LoadReport r;
  r.requests = static_cast<int64_t>(latencies_ms.size());
  r.images = r.requests * o.images_per_request;
  r.errors = errors.load();
  r.seconds = seconds;
  r.requests_per_second = r.requests / seconds;
  r.images_per_second = r.images / seconds;
  r.p50_ms = Percentile(latencies_ms, 50);
  r.p90_ms = Percentile(latencies_ms, 90);
  r.p99_ms = Percentile(latencies_ms, 99);
  if (before.ok() && after.ok() && after->batches() > before->batches()) {
    r.server_mean_batch = static_cast<double>(after->images() - before->images()) /
                          static_cast<double>(after->batches() - before->batches());
  }
  return r;
}

}  // namespace catdog::client
