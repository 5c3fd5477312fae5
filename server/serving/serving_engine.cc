#include "server/serving/serving_engine.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/data/image_io.h"

namespace catdog::server {
namespace {

absl::Status NoModelError() {
  return absl::FailedPreconditionError(
      "no model is being served: train one (`catdogctl start-training`; its best checkpoint is "
      "promoted when it succeeds) or promote a checkpoint (`catdogctl models`, then "
      "`catdogctl promote MODEL_ID`)");
}

// The call's own end, if it came: the caller hung up or its deadline passed.
absl::Status CallEnded(const CallInfo& call) {
  if (call.cancelled && call.cancelled()) return absl::CancelledError("caller went away");
  if (absl::Now() > call.deadline) return absl::DeadlineExceededError("deadline passed before preprocessing");
  return absl::OkStatus();
}

// INVALID_ARGUMENT for an image whose header promises more than `max_pixels`.
// Formats without a parsed header (TIFF) are bounded by OpenCV's own limit.
absl::Status CheckImageSize(std::string_view encoded, int64_t max_pixels) {
  const std::optional<std::pair<int64_t, int64_t>> size = common::ImageSize(encoded);
  if (!size || size->first * size->second <= max_pixels) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "image is ", size->first, "x", size->second, " px; the server decodes at most ", max_pixels,
      " pixels per image (--max-image-pixels)"));
}

// What the batcher's per-image callbacks fill in. They all run on the
// batcher thread, one at a time; Enqueue's lock orders the writes before.
struct Completion {
  common::ClassifyResult result;
  ServingEngine::ClassifyDone done;
  int remaining = 0;
  int enqueued = 0;
  int failed = 0;
  absl::Status last_error;
};

}  // namespace

struct ServingEngine::Request {
  std::vector<ImageInput> images;
  CallInfo call;
  ClassifyDone done;
  std::shared_ptr<const ServingModel> model;  // held to the end: a swap cannot pull it away
};

absl::StatusOr<std::unique_ptr<ServingEngine>> ServingEngine::Create(ServingEngineOptions options) {
  if (options.max_images_per_request < 1) return absl::InvalidArgumentError("max images per request must be >= 1");
  if (options.preprocess_threads < 0) return absl::InvalidArgumentError("preprocess threads must be >= 0");
  if (options.max_image_pixels < 1) return absl::InvalidArgumentError("max image pixels must be >= 1");
  if (options.max_pending_requests < 1) return absl::InvalidArgumentError("max pending requests must be >= 1");
  if (options.preprocess_threads == 0) {
    options.preprocess_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  absl::StatusOr<std::unique_ptr<DynamicBatcher>> batcher = DynamicBatcher::Create(options.batcher);
  if (!batcher.ok()) return batcher.status();
  std::unique_ptr<ServingEngine> engine(new ServingEngine(std::move(options)));
  engine->batcher_ = *std::move(batcher);
  for (int i = 0; i < engine->options_.preprocess_threads; ++i) {
    engine->threads_.emplace_back([e = engine.get()] { e->PreprocessLoop(); });
  }
  return engine;
}

ServingEngine::ServingEngine(ServingEngineOptions options)
    : options_(std::move(options)), registry_(options_.classifier) {}

ServingEngine::~ServingEngine() { Shutdown(); }

void ServingEngine::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // Preprocessing drains what was accepted into the batcher, which then
  // computes it before its own thread ends.
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  if (batcher_ != nullptr) batcher_->Shutdown();
}

void ServingEngine::Classify(std::vector<ImageInput> images, CallInfo call, ClassifyDone done) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  if (images.empty()) return done(absl::InvalidArgumentError("no images in the request"));
  if (images.size() > static_cast<size_t>(options_.max_images_per_request)) {
    return done(absl::InvalidArgumentError(
        absl::StrCat(images.size(), " images in one request; the server accepts at most ",
                     options_.max_images_per_request, " (send several requests)")));
  }
  std::shared_ptr<const ServingModel> model = registry_.Current();
  if (model == nullptr) return done(NoModelError());
  auto request = std::make_unique<Request>(
      Request{std::move(images), std::move(call), std::move(done), std::move(model)});
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError("server is shutting down");
    } else if (pending_.size() >= static_cast<size_t>(options_.max_pending_requests)) {
      refused = absl::ResourceExhaustedError(absl::StrCat(
          pending_.size(), " requests are waiting to be decoded; retry later"));
    } else {
      pending_.push_back(std::move(request));
      return;
    }
  }
  request->done(refused);
}

void ServingEngine::PreprocessLoop() {
  while (true) {
    std::unique_ptr<Request> request;
    {
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !pending_.empty(); };
      absl::MutexLock lock(&mu_, absl::Condition(&ready));
      if (pending_.empty()) return;  // stopping, and everything accepted is handed on
      request = std::move(pending_.front());
      pending_.pop_front();
    }
    Preprocess(std::move(request));
  }
}

void ServingEngine::Preprocess(std::unique_ptr<Request> request) {
  const ServingModel& model = *request->model;
  const common::ModelCard& card = model.classifier->card();
  auto completion = std::make_shared<Completion>();
  completion->result.model_id = model.id.ToString();
  completion->result.class_names = card.class_names;
  completion->result.images.resize(request->images.size());
  completion->done = std::move(request->done);

  // A request the batcher would refuse is refused before its decode.
  if (!batcher_->HasRoomFor(request->images.size())) {
    return completion->done(absl::ResourceExhaustedError(absl::StrCat(
        "inference queue full (", batcher_->options().max_queue_size, " images); retry later")));
  }
  std::vector<InferenceItem> items;
  items.reserve(request->images.size());
  for (size_t i = 0; i < request->images.size(); ++i) {
    // Decoding is the expensive part: skip it for a caller who is gone.
    if (absl::Status ended = CallEnded(request->call); !ended.ok()) return completion->done(ended);
    common::ClassifiedImage& out = completion->result.images[i];
    const ImageInput& input = request->images[i];
    out.id = std::string(input.id);
    if (!input.pixels.empty()) {
      const int size = model.classifier->image_size();
      if (input.pixels.rows != size || input.pixels.cols != size || input.pixels.type() != CV_32FC3) {
        out.error = absl::StrCat("the model takes 3 x ", size, " x ", size, " inputs");
        continue;
      }
    } else if (absl::Status sized = CheckImageSize(input.data, options_.max_image_pixels); !sized.ok()) {
      out.error = std::string(sized.message());
      continue;
    }
    absl::StatusOr<cv::Mat> image =
        input.pixels.empty() ? model.classifier->Preprocess(input.data) : absl::StatusOr<cv::Mat>(input.pixels);
    if (!image.ok()) {
      out.error = std::string(image.status().message());
      continue;
    }
    InferenceItem item;
    item.model = request->model;
    item.image = *std::move(image);
    item.deadline = request->call.deadline;
    item.cancelled = request->call.cancelled;
    item.done = [completion, i](absl::StatusOr<common::Prediction> prediction) {
      Completion& c = *completion;
      if (prediction.ok()) {
        c.result.images[i].prediction = *std::move(prediction);
      } else {
        c.result.images[i].error = std::string(prediction.status().message());
        ++c.failed;
        c.last_error = prediction.status();
      }
      if (--c.remaining > 0) return;
      // When the model itself failed every image (out of memory, deadline),
      // the call fails with that status; single bad images only mark themselves.
      if (c.failed == c.enqueued) return c.done(c.last_error);
      c.done(std::move(c.result));
    };
    items.push_back(std::move(item));
  }
  if (items.empty()) return completion->done(std::move(completion->result));  // every image failed alone
  completion->remaining = completion->enqueued = static_cast<int>(items.size());
  if (absl::Status queued = batcher_->Enqueue(std::move(items)); !queued.ok()) {
    completion->done(queued);
  }
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ServingEngine::Promote(const api::ModelId& id) {
  return Serve(id, /*record=*/true);
}

absl::StatusOr<std::string> ServingEngine::PromoteIfBetter(const api::ModelId& id, double valid_accuracy,
                                                           double min_accuracy) {
  const std::shared_ptr<const ServingModel> current = registry_.Current();
  std::string why;
  if (current == nullptr) {
    why = "nothing was being served";
  } else {
    const double serving = current->classifier->card().metrics.valid_accuracy;
    if (valid_accuracy > serving) {
      why = absl::StrFormat("validation accuracy %.4f beats %s's %.4f", valid_accuracy,
                            current->id.ToString(), serving);
    } else if (min_accuracy > 0 && valid_accuracy >= min_accuracy) {
      why = absl::StrFormat("validation accuracy %.4f meets --promote-min-accuracy %.4f", valid_accuracy,
                            min_accuracy);
    } else {
      return absl::StrFormat("not promoted: validation accuracy %.4f does not beat %s's %.4f%s",
                             valid_accuracy, current->id.ToString(), serving,
                             min_accuracy > 0 ? absl::StrFormat(" nor reach --promote-min-accuracy %.4f", min_accuracy)
                                              : std::string());
    }
  }
  absl::StatusOr<std::shared_ptr<const ServingModel>> promoted = Promote(id);
  if (!promoted.ok()) return promoted.status();
  return absl::StrCat("promoted ", id.ToString(), ": ", why);
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ServingEngine::Restore(const api::ModelId& id) {
  return Serve(id, /*record=*/false);
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ServingEngine::Serve(const api::ModelId& id, bool record) {
  std::string path = id.path();
  if (!id.is_file()) {
    if (!options_.resolve) return absl::NotFoundError(absl::StrCat("no checkpoint ", id.ToString()));
    absl::StatusOr<std::string> resolved = options_.resolve(id);
    if (!resolved.ok()) return resolved.status();
    path = *std::move(resolved);
  }
  std::function<absl::Status()> commit;
  if (record && options_.record) commit = [this, &id, &path] { return options_.record(id, path); };
  absl::StatusOr<std::shared_ptr<const ServingModel>> model = registry_.Promote(id, path, commit);
  if (model.ok() && options_.on_serving) options_.on_serving(**model);
  return model;
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ServingEngine::CurrentOrError() const {
  std::shared_ptr<const ServingModel> model = registry_.Current();
  if (model == nullptr) return NoModelError();
  return model;
}

common::ServingStats ServingEngine::Stats() const {
  const BatcherStats b = batcher_->stats();
  common::ServingStats s;
  s.classify_requests = requests_.load(std::memory_order_relaxed);
  s.images = b.images;
  s.batches = b.batches;
  s.batch_sizes = b.batch_sizes;
  s.queue_depth = b.queue_depth;
  s.rejected = b.rejected;
  s.expired = b.expired;
  if (const auto model = registry_.Current(); model != nullptr) s.serving_model_id = model->id.ToString();
  return s;
}

}  // namespace catdog::server
