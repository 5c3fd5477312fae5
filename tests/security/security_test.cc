// The security suite: a real catdogd Server in-process with a tokens file,
// played against by an unauthenticated client, wrong-scope clients, another
// user's client and path-escape clients. Every one must be refused, and no
// reply may name a server path. TLS is tested with the real binaries in
// tls_test.sh.
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/codegen/client_unary_call.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "catdog/v1/catdog.grpc.pb.h"
#include "client/catdog_client.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "common/auth/tokens.h"
#include "server/server.h"
#include "tests/support/random_checkpoint.h"
#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

using catdog::client::CatdogClient;
using catdog::client::ConnectOptions;
using grpc::StatusCode;

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    namespace fs = std::filesystem;
    catdog::testing::WriteSyntheticDataset(dir_.Sub("data/synth"), 20, 32);
    catdog::testing::WriteSyntheticDataset(dir_.Sub("outside/stolen"), 20, 32, /*seed=*/9);
    // A dataset whose class folder is a link leading out of the data root.
    fs::create_directories(dir_.Sub("data/linked_class"));
    fs::copy(dir_.Sub("data/synth/cat"), dir_.Sub("data/linked_class/cat"), fs::copy_options::recursive);
    fs::create_directory_symlink(dir_.Sub("outside/stolen/dog"), dir_.Sub("data/linked_class/dog"));
    // One whose image is a link leading out.
    fs::copy(dir_.Sub("data/synth"), dir_.Sub("data/linked_file"), fs::copy_options::recursive);
    const std::string some_dog = fs::directory_iterator(dir_.Sub("outside/stolen/dog"))->path().string();
    fs::create_symlink(some_dog, dir_.Sub("data/linked_file/dog/zz_stolen.png"));
    // The whole dataset a link leading out.
    fs::create_directory_symlink(dir_.Sub("outside/stolen"), dir_.Sub("data/linked_root"));
    // Links that stay inside are fine.
    fs::create_directory_symlink(dir_.Sub("data/synth"), dir_.Sub("data/alias"));

    for (const auto& [name, scopes, limits] :
         {std::tuple{"alice", "train,inference", common::TokenLimits{}},
          std::tuple{"bob", "train", common::TokenLimits{}},
          std::tuple{"reader", "inference", common::TokenLimits{0, 0, /*max_concurrent_classify=*/1}},
          std::tuple{"root", "admin", common::TokenLimits{}}}) {
      auto t = common::MakeToken(name, *common::ParseScopes(scopes), limits);
      ASSERT_TRUE(t.ok()) << t.status();
      tokens_[name] = t->token;
      tokens_file_ += t->line + "\n";
    }
    catdog::testing::WriteFile(dir_.Sub("tokens"), tokens_file_);
  }

  ServerOptions Options() const {
    ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    o.data_root = dir_.Sub("data");
    o.state_dir = dir_.Sub("state");
    o.threads = 2;
    o.tokens_file = dir_.Sub("tokens");
    return o;
  }

  void StartServer(ServerOptions o, ServerHooks hooks = {}) {
    auto server = Server::Create(o, std::move(hooks));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::unique_ptr<CatdogClient> As(const std::string& who) {
    ConnectOptions c;
    c.target = server_->address();
    c.token = who.empty() ? "" : tokens_.count(who) ? tokens_[who] : who;
    return *CatdogClient::Connect(c);
  }

  static v1::TrainingConfig Tiny(const std::string& dataset) {
    v1::TrainingConfig c;
    c.set_dataset(dataset);
    c.set_image_size(32);
    c.set_width(0.125);
    c.set_batch_size(8);
    c.set_epochs(1);
    c.set_threads(2);
    return c;
  }

  // Trains `dataset` for one epoch as `who`; returns the job id.
  std::string TrainAs(const std::string& who, const std::string& dataset = "synth") {
    auto client = As(who);
    auto job = client->StartTraining(Tiny(dataset));
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return "";
    EXPECT_TRUE(client->WatchJob(job->id(), [](const v1::JobEvent&) {}).ok());
    return job->id();
  }

  // The server's folders must not show in anything a client receives.
  void ExpectNoServerPath(const std::string& reply) {
    EXPECT_EQ(reply.find(dir_.path()), std::string::npos) << reply;
    EXPECT_EQ(reply.find(std::filesystem::canonical(dir_.path()).string()), std::string::npos) << reply;
  }

  catdog::testing::TempDir dir_;
  std::map<std::string, std::string> tokens_;
  std::string tokens_file_;
  std::unique_ptr<Server> server_;
};

// Calls every method of every catdog.v1 service with an empty message.
std::vector<std::pair<std::string, grpc::Status>> CallEveryMethod(const std::string& address,
                                                                  const std::string& authorization) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  std::vector<std::pair<std::string, grpc::Status>> out;
  const google::protobuf::FileDescriptor* file = v1::Job::descriptor()->file();
  for (int s = 0; s < file->service_count(); ++s) {
    for (int m = 0; m < file->service(s)->method_count(); ++m) {
      const google::protobuf::MethodDescriptor* method = file->service(s)->method(m);
      const std::string name = absl::StrCat("/", file->service(s)->full_name(), "/", method->name());
      const grpc::internal::RpcMethod rpc(name.c_str(), method->server_streaming()
                                                            ? grpc::internal::RpcMethod::SERVER_STREAMING
                                                            : grpc::internal::RpcMethod::NORMAL_RPC);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      if (!authorization.empty()) context.AddMetadata("authorization", authorization);
      grpc::Slice empty(std::string(""));
      grpc::ByteBuffer request(&empty, 1), response;
      grpc::Status status;
      if (method->server_streaming()) {
        std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
            grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel.get(), rpc, &context, request));
        while (reader->Read(&response)) {
        }
        status = reader->Finish();
      } else {
        status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(channel.get(), rpc, &context,
                                                                                        request, &response);
      }
      out.emplace_back(name, status);
    }
  }
  return out;
}

TEST_F(SecurityTest, EveryMethodRefusesACallerWithoutAValidToken) {
  StartServer(Options());
  for (const std::string& authorization : {std::string(), std::string("Bearer not-a-token"),
                                           std::string("Basic YWxpY2U6c2VjcmV0"), "Bearer " + tokens_["alice"] + "x"}) {
    const auto calls = CallEveryMethod(server_->address(), authorization);
    EXPECT_GE(calls.size(), 12u);  // a new method must be checked too
    for (const auto& [method, status] : calls) {
      EXPECT_EQ(status.error_code(), StatusCode::UNAUTHENTICATED)
          << method << " with '" << authorization << "': " << status.error_message();
      EXPECT_EQ(status.error_message().find(tokens_["alice"]), std::string::npos);  // never echoed
    }
  }
}

TEST_F(SecurityTest, OpenInferenceProtocolNeedsATokenButForLivenessAndReadiness) {
  StartServer(Options());
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  const auto call = [&](const std::string& token, auto method, const auto& request, auto* response) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    return ((*stub).*method)(&context, request, response).error_code();
  };
  inference::ServerLiveResponse live;
  inference::ServerReadyResponse ready;
  inference::ServerMetadataResponse metadata;
  inference::ModelReadyResponse model_ready;
  inference::ModelInferResponse infer;
  EXPECT_EQ(call("", &inference::GRPCInferenceService::Stub::ServerLive, inference::ServerLiveRequest(), &live),
            StatusCode::OK);
  EXPECT_EQ(call("", &inference::GRPCInferenceService::Stub::ServerReady, inference::ServerReadyRequest(), &ready),
            StatusCode::OK);
  EXPECT_EQ(call("", &inference::GRPCInferenceService::Stub::ServerMetadata, inference::ServerMetadataRequest(),
                 &metadata),
            StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("", &inference::GRPCInferenceService::Stub::ModelReady, inference::ModelReadyRequest(),
                 &model_ready),
            StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("", &inference::GRPCInferenceService::Stub::ModelInfer, inference::ModelInferRequest(), &infer),
            StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call(tokens_["bob"], &inference::GRPCInferenceService::Stub::ModelInfer, inference::ModelInferRequest(),
                 &infer),
            StatusCode::PERMISSION_DENIED);  // train scope only
  EXPECT_EQ(call(tokens_["reader"], &inference::GRPCInferenceService::Stub::ServerMetadata,
                 inference::ServerMetadataRequest(), &metadata),
            StatusCode::OK);
}

TEST_F(SecurityTest, HealthNeedsNoTokenSoProbesWork) {
  StartServer(Options());
  auto health = As("")->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(SecurityTest, ReflectionIsOffUnlessAsked) {
  StartServer(Options());
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  const grpc::internal::RpcMethod rpc("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                      grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::ClientContext context;
  grpc::Slice empty(std::string(""));
  grpc::ByteBuffer request(&empty, 1), response;
  EXPECT_EQ((grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(channel.get(), rpc, &context,
                                                                                    request, &response))
                .error_code(),
            StatusCode::UNIMPLEMENTED);
}

TEST_F(SecurityTest, ATokenMayOnlyDoWhatItsScopesAllow) {
  StartServer(Options());
  const auto denied = [](const absl::Status& s) { return s.code() == absl::StatusCode::kPermissionDenied; };
  // inference only: may read models and stats, may not train or promote.
  auto reader = As("reader");
  EXPECT_TRUE(reader->GetStats().ok());
  EXPECT_TRUE(reader->ListModels().ok());
  EXPECT_TRUE(denied(reader->StartTraining(Tiny("synth")).status()));
  EXPECT_TRUE(denied(reader->ListJobs().status()));
  EXPECT_TRUE(denied(reader->PromoteModel("job-1/best").status()));
  // Weights leave and enter only with the train scope.
  EXPECT_TRUE(denied(reader->ExportModel("job-1/best").status()));
  EXPECT_TRUE(denied(reader->ImportModel(v1::ImportModelHeader(), "").status()));
  // train only: may train and watch, may not classify, read models or promote.
  const std::string job = TrainAs("bob");
  auto bob = As("bob");
  EXPECT_TRUE(bob->GetJob(job).ok());
  EXPECT_TRUE(denied(bob->Classify(v1::ClassifyRequest()).status()));
  EXPECT_TRUE(denied(bob->ListModels().status()));
  const absl::Status promote = bob->PromoteModel(job + "/best").status();
  EXPECT_TRUE(denied(promote)) << promote;
  EXPECT_NE(std::string(promote.message()).find("needs admin"), std::string::npos) << promote;
  // admin: everything.
  EXPECT_TRUE(As("root")->PromoteModel(job + "/best").ok());
}

TEST_F(SecurityTest, OnlyTheOwnerOrAnAdminMayCancelResumeOrDeleteAJob) {
  StartServer(Options());
  const std::string job = TrainAs("alice");
  auto listed = As("bob")->ListJobs();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->jobs_size(), 1);
  EXPECT_EQ(listed->jobs(0).owner(), "alice");
  auto bob = As("bob");
  for (const absl::Status& s : {bob->CancelJob(job).status(), bob->ResumeJob(job).status(), bob->DeleteJob(job)}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
    EXPECT_NE(std::string(s.message()).find("belongs to 'alice'"), std::string::npos) << s;
  }
  EXPECT_TRUE(As("alice")->GetJob(job).ok());  // still there
  // The served model cannot be deleted from under the server; another can.
  const absl::Status served = As("alice")->DeleteJob(job);
  EXPECT_EQ(served.code(), absl::StatusCode::kFailedPrecondition) << served;
  const std::string second = TrainAs("alice");  // auto-promote only promotes better models
  ASSERT_TRUE(As("root")->PromoteModel(second + "/best").ok());
  EXPECT_TRUE(As("root")->DeleteJob(job).ok());
  EXPECT_EQ(As("alice")->GetJob(job).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SecurityTest, JobsStartedBeforeTokensWereOnBelongToAdmins) {
  ServerOptions open = Options();
  open.tokens_file.clear();
  StartServer(open);
  const std::string job = TrainAs("");
  server_.reset();
  StartServer(Options());
  const absl::Status s = As("alice")->DeleteJob(job);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_NE(std::string(s.message()).find("started without a token"), std::string::npos) << s;
  EXPECT_EQ(As("root")->DeleteJob(job).code(), absl::StatusCode::kFailedPrecondition);  // served, but allowed
}

TEST_F(SecurityTest, PathEscapesAreRefusedWithoutSayingWhatIsOutside) {
  StartServer(Options());
  auto alice = As("alice");
  const std::string nul("synth\0/../../outside/stolen", 27);
  struct Attempt {
    std::string dataset;
    absl::StatusCode code;
  };
  for (const Attempt& a : std::vector<Attempt>{
           {"../outside/stolen", absl::StatusCode::kPermissionDenied},
           {dir_.Sub("outside/stolen"), absl::StatusCode::kPermissionDenied},
           {"/etc/passwd", absl::StatusCode::kPermissionDenied},
           {"/etc/shadow", absl::StatusCode::kPermissionDenied},
           {"/etc/shadowX", absl::StatusCode::kPermissionDenied},
           {"linked_root", absl::StatusCode::kPermissionDenied},
           {"linked_class", absl::StatusCode::kPermissionDenied},
           {"linked_file", absl::StatusCode::kPermissionDenied},
           {nul, absl::StatusCode::kInvalidArgument},
           {"synth\n", absl::StatusCode::kInvalidArgument},
       }) {
    auto job = alice->StartTraining(Tiny(a.dataset));
    EXPECT_EQ(job.status().code(), a.code) << a.dataset << ": " << job.status();
    ExpectNoServerPath(std::string(job.status().message()));
    EXPECT_EQ(std::string(job.status().message()).find("/etc"), std::string::npos) << job.status();
  }
  // The test set is confined the same way.
  v1::TrainingConfig c = Tiny("synth");
  c.set_test_dataset("linked_class");
  EXPECT_EQ(alice->StartTraining(c).status().code(), absl::StatusCode::kPermissionDenied);
  // A link that stays inside the data root is followed.
  EXPECT_FALSE(TrainAs("alice", "alias").empty());
}

TEST_F(SecurityTest, RepliesNameNoServerPath) {
  ServerOptions o = Options();
  StartServer(o);
  const std::string job = TrainAs("alice");
  auto alice = As("alice");
  auto root = As("root");
  ExpectNoServerPath(alice->GetJob(job)->DebugString());
  ExpectNoServerPath(alice->ListJobs()->DebugString());
  ExpectNoServerPath(alice->ListModels()->DebugString());
  ExpectNoServerPath(alice->GetServingModel()->DebugString());
  ExpectNoServerPath(alice->GetStats()->DebugString());
  v1::ClassifyRequest request;
  request.add_images()->set_data(catdog::testing::EncodePng(catdog::testing::SyntheticImage(0, 32, 1)));
  ExpectNoServerPath(alice->Classify(request)->DebugString());
  // A job that fails names its files relative to the data root.
  std::filesystem::remove_all(dir_.Sub("data/synth/dog"));
  auto resumed = root->ResumeJob(job);
  EXPECT_FALSE(resumed.ok());
  ExpectNoServerPath(std::string(resumed.status().message()));
}

TEST_F(SecurityTest, ConcurrentClassifyCallsAreLimitedPerToken) {
  absl::Notification release, first_in;
  absl::Cleanup release_at_exit = [&release] {
    if (!release.HasBeenNotified()) release.Notify();
  };
  ServerHooks hooks;
  hooks.predict = [&](const ServingModel&, const std::vector<cv::Mat>& images)
      -> absl::StatusOr<std::vector<common::Prediction>> {
    if (!first_in.HasBeenNotified()) first_in.Notify();
    release.WaitForNotification();
    return std::vector<common::Prediction>(images.size(), common::Prediction{0, {0.5f, 0.5f}});
  };
  catdog::testing::WriteRandomCheckpoint(dir_.Sub("random.ckpt"));
  ServerOptions o = Options();
  o.serve_checkpoint = dir_.Sub("random.ckpt");
  StartServer(o, std::move(hooks));
  v1::ClassifyRequest request;
  request.add_images()->set_data(catdog::testing::EncodePng(catdog::testing::SyntheticImage(0, 32, 1)));
  auto reader = As("reader");  // max_concurrent_classify=1
  absl::StatusOr<v1::ClassifyResponse> held;
  std::thread first([&] { held = reader->Classify(request); });
  first_in.WaitForNotification();
  const absl::Status second = As("reader")->Classify(request).status();
  EXPECT_EQ(second.code(), absl::StatusCode::kResourceExhausted) << second;
  EXPECT_TRUE(As("alice")->GetStats().ok());  // others are not held back
  release.Notify();
  first.join();
  EXPECT_TRUE(held.ok()) << held.status();
  EXPECT_TRUE(As("reader")->Classify(request).ok());  // the slot is free again
}

TEST_F(SecurityTest, TokensAreReadAgainOnReloadAndABrokenFileKeepsTheOldOnes) {
  StartServer(Options());
  auto fresh = common::MakeToken("carol", common::kScopeTrain, {});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(As(fresh->token)->ListJobs().status().code(), absl::StatusCode::kUnauthenticated);
  // alice removed, carol added.
  std::string lines;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(tokens_file_, '\n'))) {
    if (!line.empty() && line.find("name=alice") == std::string::npos) lines += line + "\n";
  }
  catdog::testing::WriteFile(dir_.Sub("tokens"), lines + fresh->line + "\n");
  ASSERT_TRUE(server_->ReloadTokens().ok());
  EXPECT_TRUE(As(fresh->token)->ListJobs().ok());
  EXPECT_EQ(As("alice")->ListJobs().status().code(), absl::StatusCode::kUnauthenticated);
  catdog::testing::WriteFile(dir_.Sub("tokens"), "sha256:nothex name=x scopes=train\n");
  EXPECT_EQ(server_->ReloadTokens().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(As(fresh->token)->ListJobs().ok());
}

TEST_F(SecurityTest, AnAddressOtherMachinesReachNeedsTlsAndTokensOrInsecure) {
  ServerOptions o = Options();
  o.listen_address = "0.0.0.0:0";
  o.tokens_file.clear();
  auto refused = Server::Create(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(refused.status().message()).find("--insecure"), std::string::npos) << refused.status();
  o.tokens_file = dir_.Sub("tokens");  // tokens without TLS would travel in clear
  EXPECT_EQ(Server::Create(o).status().code(), absl::StatusCode::kFailedPrecondition);
  o.insecure = true;
  auto open = Server::Create(o);
  EXPECT_TRUE(open.ok()) << open.status();
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:0"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50051"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:50051"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.5:50051"));
}

TEST_F(SecurityTest, ABadTokensFileOrTlsFileStopsTheStart) {
  ServerOptions o = Options();
  catdog::testing::WriteFile(dir_.Sub("bad_tokens"), "sha256:00 name=x\n");
  o.tokens_file = dir_.Sub("bad_tokens");
  EXPECT_EQ(Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Options();
  o.tls_cert = dir_.Sub("missing.pem");
  o.tls_key = dir_.Sub("missing.key");
  EXPECT_EQ(Server::Create(o).status().code(), absl::StatusCode::kFailedPrecondition);
  o.tls_key.clear();
  EXPECT_EQ(Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace catdog::server
