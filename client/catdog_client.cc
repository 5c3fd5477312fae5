#include "client/catdog_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/status_conversion.h"
#include "common/data/status_macros.h"

namespace catdog::client {

using api::FromGrpcStatus;

namespace {

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(flag, " ", path, " cannot be read"));
  }
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CatdogClient>> CatdogClient::Connect(const ConnectOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  // A name of many replicas (a headless Service) or a list of them: calls
  // go round the addresses, instead of all to the first.
  for (const char* scheme : {"dns:", "ipv4:", "ipv6:"}) {
    if (absl::StartsWith(options.target, scheme)) args.SetLoadBalancingPolicyName("round_robin");
  }
  if (options.tls || !options.tls_ca.empty() || !options.tls_cert.empty() || !options.tls_key.empty() ||
      !options.tls_server_name.empty()) {
    if (options.tls_cert.empty() != options.tls_key.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
    }
    grpc::SslCredentialsOptions ssl;
    CATDOG_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem("--tls-ca", options.tls_ca));
    CATDOG_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem("--tls-cert", options.tls_cert));
    CATDOG_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem("--tls-key", options.tls_key));
    credentials = grpc::SslCredentials(ssl);
    if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  }
  return std::make_unique<CatdogClient>(grpc::CreateCustomChannel(options.target, credentials, args),
                                        options.timeout, options.token);
}

std::unique_ptr<CatdogClient> CatdogClient::Connect(const std::string& target, absl::Duration timeout) {
  ConnectOptions options;
  options.target = target;
  options.timeout = timeout;
  return *Connect(options);  // plaintext cannot fail
}

CatdogClient::CatdogClient(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout, std::string token)
    : timeout_(timeout),
      token_(std::move(token)),
      training_(v1::TrainingService::NewStub(channel)),
      inference_(v1::InferenceService::NewStub(channel)),
      models_(v1::ModelService::NewStub(channel)),
      stats_(v1::StatsService::NewStub(channel)),
      health_(grpc::health::v1::Health::NewStub(channel)) {}

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> CatdogClient::Call(
    Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request) const {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  Authenticate(context);
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

void CatdogClient::Authenticate(grpc::ClientContext& context) const {
  // Metadata rather than call credentials, which gRPC sends over TLS only:
  // a loopback server without TLS may still require tokens.
  if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
}

absl::StatusOr<v1::Job> CatdogClient::StartTraining(const v1::TrainingConfig& config) {
  v1::StartTrainingRequest request;
  *request.mutable_config() = config;
  return Call(*training_, &v1::TrainingService::Stub::StartTraining, request);
}

absl::StatusOr<v1::Job> CatdogClient::GetJob(const std::string& job_id, bool with_history) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  request.set_with_history(with_history);
  return Call(*training_, &v1::TrainingService::Stub::GetJob, request);
}

absl::StatusOr<v1::ListJobsResponse> CatdogClient::ListJobs(const std::vector<v1::JobState>& states) {
  v1::ListJobsRequest request;
  for (v1::JobState s : states) request.add_states(s);
  return Call(*training_, &v1::TrainingService::Stub::ListJobs, request);
}

absl::StatusOr<v1::Job> CatdogClient::CancelJob(const std::string& job_id) {
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  return Call(*training_, &v1::TrainingService::Stub::CancelJob, request);
}

absl::StatusOr<v1::Job> CatdogClient::ResumeJob(const std::string& job_id) {
  v1::ResumeJobRequest request;
  request.set_job_id(job_id);
  return Call(*training_, &v1::TrainingService::Stub::ResumeJob, request);
}

absl::Status CatdogClient::DeleteJob(const std::string& job_id) {
  v1::DeleteJobRequest request;
  request.set_job_id(job_id);
  return Call(*training_, &v1::TrainingService::Stub::DeleteJob, request).status();
}

absl::Status CatdogClient::WatchJob(const std::string& job_id,
                                    const std::function<void(const v1::JobEvent&)>& on_event) {
  grpc::ClientContext context;  // no deadline: a job may run for hours
  Authenticate(context);
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = training_->WatchJob(&context, request);
  v1::JobEvent event;
  while (reader->Read(&event)) on_event(event);
  return FromGrpcStatus(reader->Finish());
}

absl::StatusOr<v1::ClassifyResponse> CatdogClient::Classify(const v1::ClassifyRequest& request) {
  return Call(*inference_, &v1::InferenceService::Stub::Classify, request);
}

absl::StatusOr<v1::ListModelsResponse> CatdogClient::ListModels(const std::string& job_id) {
  v1::ListModelsRequest request;
  request.set_job_id(job_id);
  return Call(*models_, &v1::ModelService::Stub::ListModels, request);
}

absl::StatusOr<v1::Model> CatdogClient::GetServingModel() {
  return Call(*models_, &v1::ModelService::Stub::GetServingModel, v1::GetServingModelRequest());
}

absl::StatusOr<v1::Model> CatdogClient::PromoteModel(const std::string& model_id) {
  v1::PromoteModelRequest request;
  request.set_model_id(model_id);
  return Call(*models_, &v1::ModelService::Stub::PromoteModel, request);
}

absl::StatusOr<std::string> CatdogClient::ExportModel(const std::string& model_id) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  Authenticate(context);
  v1::ExportModelRequest request;
  request.set_model_id(model_id);
  std::unique_ptr<grpc::ClientReader<v1::ModelChunk>> reader = models_->ExportModel(&context, request);
  std::string bytes;
  v1::ModelChunk chunk;
  while (reader->Read(&chunk)) bytes += chunk.data();
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return bytes;
}

absl::StatusOr<v1::EvaluationReport> CatdogClient::EvaluateModel(
    const v1::EvaluateModelRequest& request, const std::function<void(int64_t, int64_t)>& on_progress) {
  grpc::ClientContext context;
  Authenticate(context);
  std::unique_ptr<grpc::ClientReader<v1::EvaluationUpdate>> reader = models_->EvaluateModel(&context, request);
  v1::EvaluationUpdate update;
  std::optional<v1::EvaluationReport> report;
  while (reader->Read(&update)) {
    if (update.has_progress() && on_progress) {
      on_progress(update.progress().images_done(), update.progress().images_total());
    }
    if (update.has_report()) report = update.report();
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  if (!report.has_value()) return absl::InternalError("the evaluation ended without a report");
  return *std::move(report);
}

absl::StatusOr<v1::Model> CatdogClient::ImportModel(const v1::ImportModelHeader& header, absl::string_view bytes) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  Authenticate(context);
  v1::Model model;
  std::unique_ptr<grpc::ClientWriter<v1::ImportModelRequest>> writer = models_->ImportModel(&context, &model);
  v1::ImportModelRequest message;
  *message.mutable_header() = header;
  bool open = writer->Write(message);
  constexpr size_t kChunk = size_t{1} << 20;
  for (size_t offset = 0; open && offset < bytes.size(); offset += kChunk) {
    message.set_data(std::string(bytes.substr(offset, kChunk)));
    open = writer->Write(message);
  }
  writer->WritesDone();  // a refused upload ends early; Finish has the reason
  const grpc::Status status = writer->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return model;
}

absl::StatusOr<v1::Stats> CatdogClient::GetStats() {
  return Call(*stats_, &v1::StatsService::Stub::GetStats, v1::GetStatsRequest());
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> CatdogClient::Health(
    const std::string& service) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  auto response = Call(*health_, &grpc::health::v1::Health::Stub::Check, request);
  if (!response.ok()) return response.status();
  return response->status();
}

}  // namespace catdog::client
