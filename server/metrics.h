// Prometheus metrics on their own HTTP port (prometheus-cpp's pull
// exposer): `GET /metrics` in the text format. Names follow Triton's
// nv_inference_* family with a catdog_ prefix:
//
//   catdog_inference_request_total{code}              counter, Classify calls by gRPC code
//   catdog_inference_request_duration_seconds{code}   histogram, call start to finish
//   catdog_inference_queue_duration_seconds           histogram, per image: time in the batch queue
//   catdog_inference_compute_duration_seconds         histogram, per image: its share of a forward pass
//   catdog_inference_batch_size                       histogram, images per forward pass
//   catdog_inference_intra_op_threads                 gauge, threads of the latest forward pass
//   catdog_inference_count / _exec_count              counters, images / forward passes
//   catdog_inference_queue_depth                      gauge
//   catdog_inference_rejected_total / _expired_total  counters (queue full / caller gone or late)
//   catdog_model_loads_total{model_id}                counter, models loaded for serving
//   catdog_serving_model_info{model_id}               gauge 1 for the model being served
//   catdog_jobs{state}                                gauge, jobs by state
//   catdog_job_epoch{job} _train_loss _valid_loss _valid_accuracy _learning_rate
//                                                     gauges, each running job's newest epoch
//   process_resident_memory_bytes                     gauge
//
// The endpoint has no authentication: bind it to loopback or to a network
// only the scraper reaches. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/data/job.h"
#include "common/data/serving_types.h"
#include "server/serving/dynamic_batcher.h"

namespace prometheus {
class Exposer;
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace catdog::server {

// What is read at each scrape.
struct MetricsSnapshot {
  common::ServingStats serving;  // with the serving model's id as replies show it
  std::map<common::JobState, int64_t> jobs;
  std::vector<common::JobInfo> running;
};

class Metrics {
 public:
  // The metrics, recording from now on; served once Serve is called.
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Listens on `address` (host:port; port 0 picks a free one); `snapshot`
  // is called at each scrape, from the exposer's threads. UNAVAILABLE when
  // the address cannot be bound. Call once.
  absl::Status Serve(const std::string& address, std::function<MetricsSnapshot()> snapshot);
  // Stops the endpoint and waits for scrapes in progress, so `snapshot` is
  // no longer called; recording goes on. Idempotent.
  void StopServing();
  int port() const { return port_; }

  void ObserveRequest(const std::string& code, absl::Duration latency);
  void ObserveBatch(const BatchTiming& timing);
  void ModelLoaded(const std::string& model_id);

 private:
  class Scraped;

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Scraped> scraped_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* request_seconds_ = nullptr;
  prometheus::Histogram* queue_seconds_ = nullptr;
  prometheus::Histogram* compute_seconds_ = nullptr;
  prometheus::Histogram* batch_size_ = nullptr;
  prometheus::Gauge* threads_ = nullptr;
  prometheus::Family<prometheus::Counter>* model_loads_ = nullptr;
  std::unique_ptr<prometheus::Exposer> exposer_;  // last: serves what is above
  int port_ = 0;
};

}  // namespace catdog::server
