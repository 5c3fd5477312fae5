// A thin synchronous client over catdog's gRPC services, used by catdogctl,
// the tests and the load generator. Errors come back as absl::Status with
// the server's code and message (UNAVAILABLE when it cannot be reached).
//
// Thread-safe: gRPC stubs may be used from many threads at once.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "catdog/v1/catdog.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace catdog::client {

struct ConnectOptions {
  // host:port; or dns:///NAME:PORT, ipv4:ADDR:PORT,ADDR:PORT,...: calls go
  // round the addresses (round_robin), for serving replicas.
  std::string target;
  absl::Duration timeout = absl::Seconds(60);  // bounds each unary call (not WatchJob)
  // TLS: on when `tls` or any file is given. `tls_ca` (PEM) is the CA the
  // server's certificate must chain to (empty: the system's roots);
  // `tls_cert` + `tls_key` are this client's for mutual TLS.
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;  // checked against the certificate instead of the target's host
  std::string token;  // sent as "authorization: Bearer <token>" on every call
};

class CatdogClient {
 public:
  // FAILED_PRECONDITION when a TLS file cannot be read. Connecting is lazy:
  // an unreachable server shows as UNAVAILABLE on the first call.
  static absl::StatusOr<std::unique_ptr<CatdogClient>> Connect(const ConnectOptions& options);
  // Plaintext, no token.
  static std::unique_ptr<CatdogClient> Connect(const std::string& target,
                                               absl::Duration timeout = absl::Seconds(60));
  CatdogClient(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout, std::string token = "");

  absl::StatusOr<v1::Job> StartTraining(const v1::TrainingConfig& config);
  // `with_history`: Job.history holds every completed epoch's metrics.
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id, bool with_history = false);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const std::vector<v1::JobState>& states = {});
  absl::StatusOr<v1::Job> CancelJob(const std::string& job_id);
  absl::StatusOr<v1::Job> ResumeJob(const std::string& job_id);
  absl::Status DeleteJob(const std::string& job_id);
  // Calls `on_event` for each event (replay first, then live) until the job
  // ends; returns the stream's final status.
  absl::Status WatchJob(const std::string& job_id,
                        const std::function<void(const v1::JobEvent&)>& on_event);

  absl::StatusOr<v1::ClassifyResponse> Classify(const v1::ClassifyRequest& request);

  absl::StatusOr<v1::ListModelsResponse> ListModels(const std::string& job_id = "");
  absl::StatusOr<v1::Model> GetServingModel();
  absl::StatusOr<v1::Model> PromoteModel(const std::string& model_id);
  // A model's weights as a PyTorch state-dict file's bytes.
  absl::StatusOr<std::string> ExportModel(const std::string& model_id);
  // Evaluates a stored model on a dataset under the server's data root;
  // `on_progress` (may be empty) hears (done, total). No deadline: a big
  // dataset on a CPU takes minutes.
  absl::StatusOr<v1::EvaluationReport> EvaluateModel(const v1::EvaluateModelRequest& request,
                                                     const std::function<void(int64_t, int64_t)>& on_progress);
  // Uploads a PyTorch state-dict file as imported:<header.name>.
  absl::StatusOr<v1::Model> ImportModel(const v1::ImportModelHeader& header, absl::string_view bytes);

  absl::StatusOr<v1::Stats> GetStats();
  // grpc.health.v1 status of `service` ("" = the whole server). NOT_FOUND
  // for a service the server does not report on.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Health(const std::string& service = "");

 private:
  // A unary call with this client's deadline; defined (and only used) in the .cc.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub& stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request) const;

  // The token, when there is one, on `context`.
  void Authenticate(grpc::ClientContext& context) const;

  const absl::Duration timeout_;
  const std::string token_;
  std::unique_ptr<v1::TrainingService::Stub> training_;
  std::unique_ptr<v1::InferenceService::Stub> inference_;
  std::unique_ptr<v1::ModelService::Stub> models_;
  std::unique_ptr<v1::StatsService::Stub> stats_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace catdog::client
