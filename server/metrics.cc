#include "server/metrics.h"

#include <unistd.h>

#include <cstdio>
#include <exception>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/strings/str_cat.h"

namespace catdog::server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Seconds from 100 us to 60 s, about x2.5 apart.
prometheus::Histogram::BucketBoundaries SecondsBuckets() {
  return {1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

int64_t ResidentBytes() {
  long pages = 0, resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  const int read = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return read == 2 ? static_cast<int64_t>(resident) * ::sysconf(_SC_PAGESIZE) : 0;
}

MetricFamily Family(const std::string& name, const std::string& help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void Add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

}  // namespace

// The gauges (and the counters the serving engine already keeps), read
// from a snapshot at each scrape.
class Metrics::Scraped final : public prometheus::Collectable {
 public:
  explicit Scraped(std::function<MetricsSnapshot()> snapshot) : snapshot_(std::move(snapshot)) {}

  std::vector<MetricFamily> Collect() const override {
    const MetricsSnapshot s = snapshot_();
    std::vector<MetricFamily> out;
    auto add = [&](const std::string& name, const std::string& help, MetricType type, double value) {
      out.push_back(Family(name, help, type));
      Add(out.back(), value);
    };
    add("catdog_inference_count", "Images classified", MetricType::Counter, static_cast<double>(s.serving.images));
    add("catdog_inference_exec_count", "Forward passes", MetricType::Counter, static_cast<double>(s.serving.batches));
    add("catdog_inference_queue_depth", "Images waiting for a batch", MetricType::Gauge,
        static_cast<double>(s.serving.queue_depth));
    add("catdog_inference_rejected_total", "Images refused: queue full or shutting down", MetricType::Counter,
        static_cast<double>(s.serving.rejected));
    add("catdog_inference_expired_total", "Images dropped: deadline passed or caller gone", MetricType::Counter,
        static_cast<double>(s.serving.expired));
    out.push_back(Family("catdog_serving_model_info", "The model being served (value 1)", MetricType::Gauge));
    if (!s.serving.serving_model_id.empty()) Add(out.back(), 1, {{"model_id", s.serving.serving_model_id}});
    out.push_back(Family("catdog_jobs", "Training jobs by state", MetricType::Gauge));
    for (const common::JobState state : {common::JobState::kQueued, common::JobState::kRunning,
                                         common::JobState::kSucceeded, common::JobState::kFailed,
                                         common::JobState::kCancelled, common::JobState::kInterrupted}) {
      const auto it = s.jobs.find(state);
      Add(out.back(), it == s.jobs.end() ? 0 : static_cast<double>(it->second),
          {{"state", common::JobStateName(state)}});
    }
    struct PerJob {
      const char* name;
      const char* help;
      double (*value)(const common::EpochMetrics&);
    };
    for (const PerJob& g : std::initializer_list<PerJob>{
             {"catdog_job_epoch", "A running job's newest epoch", [](const common::EpochMetrics& m) { return double(m.epoch); }},
             {"catdog_job_train_loss", "... its training loss", [](const common::EpochMetrics& m) { return m.train_loss; }},
             {"catdog_job_valid_loss", "... its validation loss", [](const common::EpochMetrics& m) { return m.valid_loss; }},
             {"catdog_job_valid_accuracy", "... its validation accuracy", [](const common::EpochMetrics& m) { return m.valid_accuracy; }},
             {"catdog_job_learning_rate", "... its learning rate", [](const common::EpochMetrics& m) { return m.learning_rate; }},
         }) {
      out.push_back(Family(g.name, g.help, MetricType::Gauge));
      for (const common::JobInfo& job : s.running) {
        if (job.last_epoch) Add(out.back(), g.value(*job.last_epoch), {{"job", job.id}});
      }
    }
    add("process_resident_memory_bytes", "Resident memory of catdogd", MetricType::Gauge,
        static_cast<double>(ResidentBytes()));
    return out;
  }

 private:
  const std::function<MetricsSnapshot()> snapshot_;
};

Metrics::Metrics() {
  Metrics* m = this;
  m->registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Registry& r = *m->registry_;
  m->requests_ = &prometheus::BuildCounter().Name("catdog_inference_request_total")
                      .Help("Classify calls by gRPC status code").Register(r);
  m->request_seconds_ = &prometheus::BuildHistogram().Name("catdog_inference_request_duration_seconds")
                             .Help("Classify calls, start to finish, by gRPC status code").Register(r);
  m->queue_seconds_ = &prometheus::BuildHistogram().Name("catdog_inference_queue_duration_seconds")
                           .Help("Per image: time in the batch queue").Register(r).Add({}, SecondsBuckets());
  m->compute_seconds_ = &prometheus::BuildHistogram().Name("catdog_inference_compute_duration_seconds")
                             .Help("Per image: its share of the forward pass").Register(r).Add({}, SecondsBuckets());
  m->batch_size_ = &prometheus::BuildHistogram().Name("catdog_inference_batch_size")
                        .Help("Images per forward pass").Register(r)
                        .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  m->threads_ = &prometheus::BuildGauge().Name("catdog_inference_intra_op_threads")
                    .Help("Intra-op threads of the latest forward pass (fewer while other processes hold the cores)")
                    .Register(r).Add({});
  m->model_loads_ = &prometheus::BuildCounter().Name("catdog_model_loads_total")
                         .Help("Models loaded for serving").Register(r);
}

absl::Status Metrics::Serve(const std::string& address, std::function<MetricsSnapshot()> snapshot) {
  scraped_ = std::make_shared<Scraped>(std::move(snapshot));
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(scraped_);
  const std::vector<int> ports = exposer_->GetListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
  return absl::OkStatus();
}

void Metrics::StopServing() { exposer_.reset(); }

Metrics::~Metrics() = default;

void Metrics::ObserveRequest(const std::string& code, absl::Duration latency) {
  requests_->Add({{"code", code}}).Increment();
  request_seconds_->Add({{"code", code}}, SecondsBuckets()).Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::ObserveBatch(const BatchTiming& timing) {
  batch_size_->Observe(timing.size);
  threads_->Set(timing.threads);
  const double per_image = absl::ToDoubleSeconds(timing.compute) / std::max(1, timing.size);
  for (const absl::Duration wait : timing.queue_waits) {
    queue_seconds_->Observe(absl::ToDoubleSeconds(wait));
    compute_seconds_->Observe(per_image);
  }
}

void Metrics::ModelLoaded(const std::string& model_id) { model_loads_->Add({{"model_id", model_id}}).Increment(); }

}  // namespace catdog::server
