// catdogctl: the command line for catdogd.
//
// Exit codes: 0 success; 1 the server refused or failed the request, a
// watched job did not succeed, or an image failed to classify; 2 bad usage;
// 3 the server could not be reached; 4 refused: no valid token, or not
// allowed (a scope the token lacks, another's job, a path outside the data
// root: UNAUTHENTICATED, PERMISSION_DENIED).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "api/training_conversion.h"
#include "client/catdog_client.h"
#include "client/load_generator.h"
#include "client/preview.h"
#include "client/report_images.h"
#include "client/render.h"
#include "common/auth/tokens.h"
#include "common/data/image_folder.h"
#include "common/data/image_io.h"
#include "common/data/job.h"
#include "common/data/train_flags.h"

namespace catdog::client {
namespace {

namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitDenied = 4;

struct Globals {
  std::string server;
  bool json = false;
  double timeout_s = 60;
  ConnectOptions connect;
  std::string token_file;
};

int Fail(const absl::Status& status) {
  std::string message(status.message());
  if (status.code() == absl::StatusCode::kUnimplemented && message.empty()) {
    message = "this server does not offer that call (a --serve-only replica serves only; train on the trainer)";
  }
  std::fprintf(stderr, "catdogctl: %s: %s\n", absl::StatusCodeToString(status.code()).c_str(), message.c_str());
  switch (status.code()) {
    case absl::StatusCode::kUnavailable: return kExitUnreachable;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied: return kExitDenied;
    default: return kExitFailed;
  }
}

void Print(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

// The first line of a file, without surrounding whitespace.
absl::StatusOr<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read the token file ", path));
  }
  return std::string(absl::StripAsciiWhitespace(token));
}

// `catdogctl token`: prints a new token; its hashed line goes to the tokens
// file (created 0600) or, without --append, to stderr.
int MakeTokenCommand(const std::string& name, const std::string& scopes, const common::TokenLimits& limits,
                     const std::string& append_to) {
  absl::StatusOr<uint32_t> bits = common::ParseScopes(scopes);
  if (!bits.ok()) return Fail(bits.status());
  absl::StatusOr<common::NewToken> t = common::MakeToken(name, *bits, limits);
  if (!t.ok()) return Fail(t.status());
  if (!append_to.empty()) {
    const int fd = ::open(append_to.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    const std::string line = t->line + "\n";
    if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      if (fd >= 0) ::close(fd);
      return Fail(absl::FailedPreconditionError(absl::StrCat("cannot append to ", append_to)));
    }
    ::close(fd);
    std::fprintf(stderr, "catdogctl: added token '%s' to %s; send catdogd SIGHUP to read it\n", name.c_str(),
                 append_to.c_str());
  } else {
    std::fprintf(stderr, "add this line to catdogd's --tokens-file, then send catdogd SIGHUP:\n%s\n",
                 t->line.c_str());
  }
  Print(t->token + "\n");
  return kExitOk;
}

// `catdogctl export`: the weights as a PyTorch state-dict file, written
// whole or not at all (a temporary file renamed into place).
int ExportCommand(CatdogClient& client, const std::string& model_id, const std::string& out, bool json) {
  absl::StatusOr<std::string> bytes = client.ExportModel(model_id);
  if (!bytes.ok()) return Fail(bytes.status());
  const std::string tmp = out + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    file.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    file.close();
    if (!file) {
      std::filesystem::remove(tmp);
      return Fail(absl::FailedPreconditionError(absl::StrCat("cannot write ", tmp)));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return Fail(absl::FailedPreconditionError(absl::StrCat("cannot rename ", tmp, " to ", out)));
  if (json) {
    Print(nlohmann::json{{"wrote", out}, {"model", model_id}, {"bytes", bytes->size()}}.dump() + "\n");
  } else {
    Print(absl::StrFormat("wrote %s (%.1f MB): in PyTorch, model.load_state_dict(torch.load(\"%s\"))\n", out,
                          static_cast<double>(bytes->size()) / 1e6, out));
  }
  return kExitOk;
}

// `catdogctl import`: uploads a state-dict file, optionally serves it.
int ImportCommand(CatdogClient& client, const std::string& path, v1::ImportModelHeader header, bool promote,
                  bool json) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(absl::NotFoundError(absl::StrCat("cannot read ", path)));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (header.name().empty()) header.set_name(std::filesystem::path(path).stem().string());
  absl::StatusOr<v1::Model> model = client.ImportModel(header, bytes);
  if (!model.ok()) return Fail(model.status());
  if (promote) model = client.PromoteModel(model->id());
  if (!model.ok()) return Fail(model.status());
  Print(json ? ToJson(*model) + "\n" : ModelDetails(*model));
  return kExitOk;
}

// `catdogctl evaluate`: progress on a terminal, then the report; the
// mistakes grid when asked for.
int EvaluateCommand(CatdogClient& client, const v1::EvaluateModelRequest& request, const std::string& grid,
                    bool json) {
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  absl::StatusOr<v1::EvaluationReport> report = client.EvaluateModel(request, [&](int64_t done, int64_t total) {
    if (json) {
      v1::EvaluationProgress p;
      p.set_images_done(done);
      p.set_images_total(total);
      Print(ToJson(p) + "\n");
    } else if (tty) {
      std::fprintf(stderr, "\revaluating: %lld of %lld images", static_cast<long long>(done),
                   static_cast<long long>(total));
    }
  });
  if (tty && !json) std::fputs("\r\033[K", stderr);
  if (!report.ok()) return Fail(report.status());
  if (json) {
    v1::EvaluationReport slim = *report;  // thumbnails are for the grid, not for reading
    for (v1::Mistake& m : *slim.mutable_mistakes()) m.clear_thumbnail();
    Print(ToJson(slim) + "\n");
  } else {
    Print(EvaluationText(*report));
  }
  if (!grid.empty()) {
    const absl::Status written = WriteMistakesGrid(*report, grid);
    if (written.ok()) {
      if (!json) Print(absl::StrFormat("wrote %s\n", grid));
    } else if (written.code() == absl::StatusCode::kFailedPrecondition) {
      std::fprintf(stderr, "catdogctl: no mistakes, no grid written\n");
    } else {
      return Fail(written);
    }
  }
  return kExitOk;
}

// Follows a job until it ends. Human view: one row per epoch and a
// redrawn progress line on a terminal; --json: one event per line.
int Watch(CatdogClient& client, const std::string& job_id, bool json) {
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  const absl::StatusOr<v1::Job> before = client.GetJob(job_id);
  int epochs = before.ok() ? PlannedEpochs(*before) : 0;
  EpochEta eta;
  bool header = false, progress_shown = false;
  v1::JobState final_state = v1::JOB_STATE_UNSPECIFIED;
  auto clear_progress = [&] {
    if (progress_shown) Print("\r\033[K");
    progress_shown = false;
  };
  const absl::Status status = client.WatchJob(job_id, [&](const v1::JobEvent& e) {
    if (json) {
      Print(ToJson(e) + "\n");
    } else if (e.has_epoch()) {
      if (e.epoch().planned_epochs() > 0) epochs = static_cast<int>(e.epoch().planned_epochs());
      clear_progress();
      if (!header) Print(EpochHeader());
      header = true;
      Print(EpochRow(e.epoch()));
    } else if (e.has_progress() && tty) {
      Print("\r\033[K" + ProgressBar(e.progress(), epochs, eta.Update(e.progress(), absl::Now())));
      progress_shown = true;
    } else if (e.has_test_evaluation()) {
      clear_progress();
      Print(EvalText(e.test_evaluation()));
    } else if (e.has_state()) {
      clear_progress();
      Print(absl::StrFormat("[%s] %s%s\n", job_id, JobStateName(e.state().state()),
                            e.state().error().empty() ? "" : ": " + e.state().error()));
    }
    if (e.has_state()) final_state = e.state().state();
  });
  clear_progress();
  if (!status.ok()) return Fail(status);
  if (!json) {
    absl::StatusOr<v1::Job> job = client.GetJob(job_id);
    if (job.ok()) {
      Print(absl::StrFormat("%s %s after %d epochs; best epoch %d, valid accuracy %.4f\n", job_id,
                            JobStateName(job->state()), job->epochs_completed(), job->best_epoch(),
                            job->best_valid_accuracy()));
    }
  }
  return final_state == v1::SUCCEEDED ? kExitOk : kExitFailed;
}

std::vector<std::string> CollectImages(const std::vector<std::string>& inputs, absl::Status* error) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_regular_file(ec) && common::HasImageExtension(it->path().string())) {
          found.push_back(it->path().string());
        }
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(input, ec)) {
      files.push_back(input);
    } else {
      *error = absl::NotFoundError(absl::StrCat("no such file or folder: ", input));
      return {};
    }
  }
  if (files.empty()) *error = absl::NotFoundError("no image files given");
  return files;
}

int Classify(CatdogClient& client, const std::vector<std::string>& inputs, int batch, bool json) {
  absl::Status error;
  const std::vector<std::string> files = CollectImages(inputs, &error);
  if (!error.ok()) return Fail(error);
  int failures = 0;
  v1::ClassifyResponse all;
  for (size_t start = 0; start < files.size(); start += static_cast<size_t>(batch)) {
    v1::ClassifyRequest request;
    const size_t end = std::min(files.size(), start + static_cast<size_t>(batch));
    for (size_t i = start; i < end; ++i) {
      absl::StatusOr<std::string> bytes = common::ReadFileBytes(files[i]);
      if (!bytes.ok()) return Fail(bytes.status());
      v1::Image* image = request.add_images();
      image->set_data(*std::move(bytes));
      image->set_id(files[i]);
    }
    absl::StatusOr<v1::ClassifyResponse> response = client.Classify(request);
    if (!response.ok()) return Fail(response.status());
    for (const v1::ImageResult& r : response->results()) {
      if (!r.error().empty()) {
        ++failures;
        if (!json) std::fprintf(stderr, "%s: ERROR %s\n", r.id().c_str(), r.error().c_str());
      } else if (!json) {
        Print(absl::StrFormat("%s\t%s\t%.4f\n", r.id(), r.label(), r.probabilities(r.class_index())));
      }
    }
    if (json) {
      all.mutable_results()->MergeFrom(response->results());
      *all.mutable_class_names() = response->class_names();
      all.set_model_id(response->model_id());
    }
  }
  if (json) Print(ToJson(all) + "\n");
  return failures == 0 ? kExitOk : kExitFailed;
}

int Bench(CatdogClient& client, const std::vector<std::string>& inputs, LoadOptions options,
          bool json) {
  absl::Status error;
  const std::vector<std::string> files = CollectImages(inputs, &error);
  if (!error.ok()) return Fail(error);
  for (const std::string& f : files) {
    absl::StatusOr<std::string> bytes = common::ReadFileBytes(f);
    if (!bytes.ok()) return Fail(bytes.status());
    options.images.push_back(*std::move(bytes));
  }
  absl::StatusOr<LoadReport> r = RunLoad(client, options);
  if (!r.ok()) return Fail(r.status());
  const std::string mean_batch =
      r->server_mean_batch ? absl::StrFormat("%.3f", *r->server_mean_batch) : "null";
  if (json) {
    const nlohmann::ordered_json out = {
        {"concurrency", options.concurrency}, {"images_per_request", options.images_per_request},
        {"requests", r->requests}, {"images", r->images}, {"errors", r->errors}, {"seconds", r->seconds},
        {"requests_per_second", r->requests_per_second}, {"images_per_second", r->images_per_second},
        {"p50_ms", r->p50_ms}, {"p90_ms", r->p90_ms}, {"p99_ms", r->p99_ms},
        {"server_mean_batch", r->server_mean_batch ? nlohmann::ordered_json(*r->server_mean_batch) : nlohmann::ordered_json()}};
    Print(out.dump() + "\n");
  } else {
    Print(absl::StrFormat(
        "concurrency %d, %d image(s)/request: %d requests (%d errors) in %.2f s\n"
        "  %.2f requests/s, %.2f images/s\n  latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms\n"
        "  server mean batch size %s\n",
        options.concurrency, options.images_per_request, r->requests, r->errors, r->seconds,
        r->requests_per_second, r->images_per_second, r->p50_ms, r->p90_ms, r->p99_ms,
        r->server_mean_batch ? mean_batch : "unknown (no StatsService)"));
  }
  return r->errors == 0 ? kExitOk : kExitFailed;
}

template <typename T>
int Show(const absl::StatusOr<T>& result, bool json, std::string (*render)(const T&)) {
  if (!result.ok()) return Fail(result.status());
  Print(json ? ToJson(*result) + "\n" : render(*result));
  return kExitOk;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"catdogctl: train, watch and query a catdog server"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "catdogctl " CATDOG_VERSION);
  // Global flags also after the verb: `catdogctl models --json`.
  app.fallthrough();
  Globals g;
  const char* env_server = std::getenv("CATDOG_SERVER");
  g.server = env_server != nullptr && *env_server ? env_server : "localhost:50051";
  app.add_option("--server", g.server,
                 "catdogd address host:port; dns:///NAME:PORT (every address NAME resolves to: replicas behind a "
                 "headless Service) or ipv4:HOST:PORT,HOST:PORT,... spreads calls over replicas; default "
                 "$CATDOG_SERVER or localhost:50051");
  app.add_flag("--json", g.json, "machine-readable JSON output");
  app.add_option("--timeout", g.timeout_s, "seconds per request (not for watch)")->capture_default_str();
  const char* security = "Security (README \"Security\")";
  app.add_flag("--tls", g.connect.tls, "connect with TLS, trusting the system's CAs (implied by --tls-ca)")
      ->envname("CATDOG_TLS")->group(security);
  app.add_option("--tls-ca", g.connect.tls_ca, "CA certificate (PEM) the server's certificate must chain to")
      ->envname("CATDOG_TLS_CA")->group(security);
  // Not CATDOG_TLS_CERT / _KEY: those are catdogd's own certificate, and
  // both programs share the environment in a container.
  app.add_option("--tls-cert", g.connect.tls_cert, "client certificate (PEM) for mutual TLS")
      ->envname("CATDOG_CLIENT_TLS_CERT")->group(security);
  app.add_option("--tls-key", g.connect.tls_key, "the client certificate's private key (PEM)")
      ->envname("CATDOG_CLIENT_TLS_KEY")->group(security);
  app.add_option("--tls-server-name", g.connect.tls_server_name,
                 "name to check the server's certificate against (default: the --server host)")
      ->envname("CATDOG_TLS_SERVER_NAME")->group(security);
  app.add_option("--token", g.connect.token, "bearer token (prefer CATDOG_TOKEN or --token-file: "
                                             "arguments show in ps)")
      ->envname("CATDOG_TOKEN")->group(security);
  app.add_option("--token-file", g.token_file, "file whose first line is the token")
      ->envname("CATDOG_TOKEN_FILE")->group(security);

  // start-training
  common::JobSpec spec;
  bool no_promote = false, watch_after = false;
  CLI::App* start = app.add_subcommand("start-training", "queue a training job on the server");
  start->add_option("dataset", spec.config.dataset_root, "ImageFolder root, relative to the server's --data-root")
      ->required();
  common::AddTrainConfigFlags(*start, spec.config);
  start->add_flag("--no-promote", no_promote, "do not serve the best checkpoint when the job succeeds");
  start->add_flag("--watch", watch_after, "follow the job until it ends (exit 0 only if it succeeds)");

  std::string job_id;
  CLI::App* watch = app.add_subcommand("watch", "follow a job: epoch table, progress bar, summary");
  watch->add_option("job", job_id, "job id")->required();
  CLI::App* status = app.add_subcommand("status", "show one job");
  status->add_option("job", job_id, "job id")->required();
  CLI::App* cancel = app.add_subcommand("cancel", "cancel a queued or running job");
  cancel->add_option("job", job_id, "job id")->required();
  bool watch_resumed = false;
  CLI::App* resume = app.add_subcommand(
      "resume", "continue an interrupted, cancelled or failed job from its last checkpoint");
  resume->add_option("job", job_id, "job id")->required();
  resume->add_flag("--watch", watch_resumed, "follow the job until it ends (exit 0 only if it succeeds)");

  CLI::App* del = app.add_subcommand(
      "delete", "remove a finished job: its record, history, checkpoints and TensorBoard run");
  del->add_option("job", job_id, "job id")->required();

  std::string token_name, token_scopes, token_append;
  common::TokenLimits token_limits;
  CLI::App* token = app.add_subcommand(
      "token", "make a bearer token (local): prints the token; its hashed line goes to --append or stderr");
  token->add_option("--name", token_name, "who holds it; recorded as the owner of the jobs it starts")->required();
  token->add_option("--scopes", token_scopes, "comma-separated: inference, train, admin")->required();
  token->add_option("--max-active-jobs", token_limits.max_active_jobs, "queued + running jobs at most (0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  token->add_option("--max-checkpoint-mb", token_limits.max_checkpoint_mb,
                    "checkpoint files of all its jobs at most (0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  token->add_option("--max-concurrent-classify", token_limits.max_concurrent_classify,
                    "Classify calls in flight at most (0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  token->add_option("--append", token_append, "tokens file to append the line to (created 0600)");

  std::vector<std::string> state_filter;
  CLI::App* jobs = app.add_subcommand("jobs", "list jobs");
  jobs->add_option("--state", state_filter, "only these states (QUEUED, RUNNING, SUCCEEDED, ...)");

  std::vector<std::string> inputs;
  int batch = 32;
  CLI::App* classify = app.add_subcommand("classify", "classify image files or folders of images");
  classify->add_option("inputs", inputs, "files or folders")->required();
  classify->add_option("--batch", batch, "images per request")->capture_default_str()->check(CLI::Range(1, 100000));

  std::string models_job;
  CLI::App* models = app.add_subcommand("models", "list models: best and last checkpoint per job, and imported ones");
  models->add_option("--job", models_job, "only this job's");
  std::string model_id;
  CLI::App* promote = app.add_subcommand("promote", "serve a model (JOB/best, JOB/last or imported:NAME)");
  promote->add_option("model", model_id, "model id as listed by `models`")->required();
  std::string export_out;
  CLI::App* export_cmd = app.add_subcommand("export", "download a model's weights as a PyTorch state-dict file");
  export_cmd->add_option("model", model_id, "model id as listed by `models`")->required();
  export_cmd->add_option("--out", export_out, "file to write (model.pth)")->required();
  std::string import_file, import_classes;
  v1::ImportModelHeader import_header;
  int import_image_size = 0;
  bool import_promote = false;
  std::optional<bool> import_normalize;
  CLI::App* import_cmd = app.add_subcommand(
      "import", "upload a PyTorch state dict of the reference VGG16 (torch.save(model.state_dict())) as imported:NAME");
  import_cmd->add_option("file", import_file, "the .pth file")->required()->check(CLI::ExistingFile);
  import_cmd->add_option("--name", *import_header.mutable_name(), "model name (default: the file's stem)");
  import_cmd->add_option("--classes", import_classes,
                         "class names in output order, comma-separated (default: those of a catdog export)");
  import_cmd->add_option("--image-size", import_image_size,
                         "input size the model was trained at (default: a catdog export's, else 224)")
      ->check(CLI::Range(32, 1024));
  import_cmd->add_flag("--normalize,!--no-normalize", import_normalize,
                       "inputs normalised with ImageNet mean/std (default: a catdog export's choice, else off "
                       "like the reference)");
  import_cmd->add_flag("--promote", import_promote, "serve it right away (needs the admin scope)");
  v1::EvaluateModelRequest evaluate_request;
  std::string evaluate_grid;
  int evaluate_mistakes = 16;
  CLI::App* evaluate = app.add_subcommand(
      "evaluate", "run a model over a dataset on the server: accuracy, per-class precision/recall/F1, confusion "
                  "matrix, most confident mistakes");
  evaluate->add_option("model", *evaluate_request.mutable_model_id(), "model id as listed by `models`")->required();
  evaluate->add_option("dataset", *evaluate_request.mutable_dataset(), "ImageFolder under the server's data root")
      ->required();
  evaluate->add_option("--mistakes", evaluate_mistakes, "most confident mistakes to list")
      ->capture_default_str()->check(CLI::Range(1, 256));
  evaluate->add_option("--grid", evaluate_grid, "also draw the mistakes, labelled, into this PNG");
  std::string curves_job, curves_out;
  CLI::App* curves = app.add_subcommand("curves", "draw a job's loss and accuracy per epoch into a PNG");
  curves->add_option("job", curves_job, "job id")->required();
  curves->add_option("--out", curves_out, "image to write (curves.png)")->required();
  CLI::App* serving = app.add_subcommand("serving", "show the model being served");
  CLI::App* stats = app.add_subcommand("stats", "serving and job counters");
  std::string health_service;
  CLI::App* health = app.add_subcommand("health", "grpc.health.v1 check; exit 0 when SERVING");
  health->add_option("--service", health_service,
                     "one service, e.g. catdog.v1.InferenceService (SERVING only while a model is served); "
                     "default: the whole server");

  std::vector<std::string> bench_inputs;
  LoadOptions load;
  double bench_seconds = 10;
  CLI::App* bench = app.add_subcommand("bench", "load-test Classify: throughput and latency percentiles");
  bench->add_option("inputs", bench_inputs, "image files or folders to send (round-robin)")->required();
  bench->add_option("-c,--concurrency", load.concurrency, "concurrent callers")->capture_default_str()->check(CLI::Range(1, 4096));
  bench->add_option("-n,--requests", load.requests, "total requests (0 = run for --duration)")->capture_default_str();
  bench->add_option("-d,--duration", bench_seconds, "seconds to run when --requests is 0")->capture_default_str();
  bench->add_option("--images-per-request", load.images_per_request, "images in each request")->capture_default_str()->check(CLI::Range(1, 100000));

  std::string preview_dataset, preview_out;
  PreviewOptions preview_options;
  CLI::App* preview = app.add_subcommand("preview", "write a grid of random labelled training images (local)");
  preview->add_option("dataset", preview_dataset, "local ImageFolder root")->required();
  preview->add_option("--out", preview_out, "output image (.png or .jpg)")->required();
  preview->add_option("--rows", preview_options.rows, "grid rows")->capture_default_str();
  preview->add_option("--cols", preview_options.cols, "grid columns")->capture_default_str();
  preview->add_option("--seed", preview_options.seed, "which images")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  if (*preview) {
    const absl::Status s = WritePreviewGrid(preview_dataset, preview_out, preview_options);
    if (!s.ok()) return Fail(s);
    Print(g.json ? nlohmann::json{{"wrote", preview_out}}.dump() + "\n" : absl::StrFormat("wrote %s\n", preview_out));
    return kExitOk;
  }

  if (*token) return MakeTokenCommand(token_name, token_scopes, token_limits, token_append);

  g.connect.target = g.server;
  g.connect.timeout = absl::Milliseconds(static_cast<int64_t>(g.timeout_s * 1000));
  if (!g.token_file.empty() && g.connect.token.empty()) {
    absl::StatusOr<std::string> t = ReadToken(g.token_file);
    if (!t.ok()) return Fail(t.status());
    g.connect.token = *std::move(t);
  }
  absl::StatusOr<std::unique_ptr<CatdogClient>> connected = CatdogClient::Connect(g.connect);
  if (!connected.ok()) return Fail(connected.status());
  std::unique_ptr<CatdogClient> client = *std::move(connected);
  if (*start) {
    spec.auto_promote = !no_promote;
    absl::StatusOr<v1::Job> job = client->StartTraining(api::JobSpecToProto(spec));
    if (!job.ok()) return Fail(job.status());
    Print(g.json ? ToJson(*job) + "\n" : job->id() + "\n");  // --json --watch: the job, then its events
    return watch_after ? Watch(*client, job->id(), g.json) : kExitOk;
  }
  if (*watch) return Watch(*client, job_id, g.json);
  if (*status) return Show<v1::Job>(client->GetJob(job_id), g.json, &JobDetails);
  if (*cancel) {
    absl::StatusOr<v1::Job> job = client->CancelJob(job_id);
    if (!job.ok()) return Fail(job.status());
    Print(g.json ? ToJson(*job) + "\n"
                 : absl::StrFormat("%s: %s\n", job_id,
                                   job->state() == v1::RUNNING ? "stopping at the next batch"
                                                               : JobStateName(job->state())));
    return kExitOk;
  }
  if (*resume) {
    absl::StatusOr<v1::Job> job = client->ResumeJob(job_id);
    if (!job.ok()) return Fail(job.status());
    if (g.json) {
      Print(ToJson(*job) + "\n");
    } else {
      Print(absl::StrFormat("%s: queued to continue after epoch %d\n", job_id, job->epochs_completed()));
    }
    return watch_resumed ? Watch(*client, job_id, g.json) : kExitOk;
  }
  if (*del) {
    const absl::Status s = client->DeleteJob(job_id);
    if (!s.ok()) return Fail(s);
    Print(g.json ? nlohmann::json{{"deleted", job_id}}.dump() + "\n" : absl::StrFormat("%s: deleted\n", job_id));
    return kExitOk;
  }
  if (*jobs) {
    std::vector<v1::JobState> states;
    for (const std::string& name : state_filter) {
      v1::JobState s;
      if (!v1::JobState_Parse(name, &s)) {
        std::fprintf(stderr, "catdogctl: unknown state %s\n", name.c_str());
        return kExitUsage;
      }
      states.push_back(s);
    }
    return Show<v1::ListJobsResponse>(client->ListJobs(states), g.json, &JobsTable);
  }
  if (*classify) return Classify(*client, inputs, batch, g.json);
  if (*bench) {
    load.duration = absl::Milliseconds(static_cast<int64_t>(bench_seconds * 1000));
    return Bench(*client, bench_inputs, load, g.json);
  }
  if (*models) return Show<v1::ListModelsResponse>(client->ListModels(models_job), g.json, &ModelsTable);
  if (*promote) return Show<v1::Model>(client->PromoteModel(model_id), g.json, &ModelDetails);
  if (*serving) return Show<v1::Model>(client->GetServingModel(), g.json, &ModelDetails);
  if (*export_cmd) return ExportCommand(*client, model_id, export_out, g.json);
  if (*evaluate) {
    evaluate_request.set_max_mistakes(evaluate_mistakes);
    return EvaluateCommand(*client, evaluate_request, evaluate_grid, g.json);
  }
  if (*curves) {
    absl::StatusOr<v1::Job> job = client->GetJob(curves_job, /*with_history=*/true);
    if (!job.ok()) return Fail(job.status());
    if (const absl::Status s = WriteCurves(*job, curves_out); !s.ok()) return Fail(s);
    Print(g.json ? nlohmann::json{{"wrote", curves_out}, {"epochs", job->history_size()}}.dump() + "\n"
                 : absl::StrFormat("wrote %s (%d epochs)\n", curves_out, job->history_size()));
    return kExitOk;
  }
  if (*import_cmd) {
    for (absl::string_view name : absl::StrSplit(import_classes, ',', absl::SkipEmpty())) {
      import_header.add_class_names(std::string(absl::StripAsciiWhitespace(name)));
    }
    import_header.set_image_size(import_image_size);
    if (import_normalize.has_value()) import_header.set_normalize(*import_normalize);
    return ImportCommand(*client, import_file, import_header, import_promote, g.json);
  }
  if (*stats) return Show<v1::Stats>(client->GetStats(), g.json, &StatsText);
  if (*health) {
    auto s = client->Health(health_service);
    if (!s.ok()) return Fail(s.status());
    const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*s);
    Print(g.json ? nlohmann::json{{"status", name}}.dump() + "\n" : name + "\n");
    return *s == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk : kExitFailed;
  }
  return kExitUsage;
}

}  // namespace catdog::client

int main(int argc, char** argv) { return catdog::client::Main(argc, argv); }
