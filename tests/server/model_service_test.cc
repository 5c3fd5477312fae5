// ModelService's export, import and evaluation against a real in-process
// catdogd: a PyTorch state dict goes in, is listed, promoted, served across a
// restart and comes back out with the same weights; bad uploads are refused
// and leave nothing; a stored model is evaluated on a dataset.
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <grpcpp/create_channel.h>

#include "client/catdog_client.h"
#include "common/ml/checkpoint.h"
#include "common/ml/pytorch_interop.h"
#include "server/server.h"
#include "tests/support/random_checkpoint.h"
#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

using catdog::client::CatdogClient;

class ModelServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.Sub("data"));
    catdog::testing::WriteRandomCheckpoint(dir_.Sub("random.ckpt"));
    absl::StatusOr<std::string> bytes = common::ExportStateDict(dir_.Sub("random.ckpt"));
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    state_dict_ = *std::move(bytes);
  }

  void Start() { Start(Options()); }
  void Start(const ServerOptions& o) {
    server_.reset();
    auto server = Server::Create(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = CatdogClient::Connect(server_->address());
  }

  ServerOptions Options() const {
    ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    o.data_root = dir_.Sub("data");
    o.state_dir = dir_.Sub("state");
    o.threads = 2;
    return o;
  }

  static v1::ImportModelHeader Header(const std::string& name) {
    v1::ImportModelHeader h;
    h.set_name(name);
    h.add_class_names("cat");
    h.add_class_names("dog");
    h.set_image_size(32);
    return h;
  }

  // Logits of a checkpoint on a fixed input.
  static torch::Tensor Logits(const std::string& checkpoint) {
    auto loaded = common::LoadCheckpoint(checkpoint, c10::Device(c10::kCPU));
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    torch::NoGradGuard no_grad;
    return loaded->model->forward(torch::linspace(-1, 1, 3 * 32 * 32).reshape({1, 3, 32, 32}));
  }

  std::vector<std::string> ImportedFiles() const {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("state/imported"), ec)) {
      files.push_back(e.path().filename().string());
    }
    return files;
  }

  catdog::testing::TempDir dir_;
  std::string state_dict_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<CatdogClient> client_;
};

TEST_F(ModelServiceTest, ImportedModelIsListedServedAcrossARestartAndExportedUnchanged) {
  Start();
  absl::StatusOr<v1::Model> imported = client_->ImportModel(Header("notebook"), state_dict_);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->id(), "imported:notebook");
  EXPECT_EQ(imported->kind(), "imported");
  EXPECT_EQ(imported->image_size(), 32);
  EXPECT_FALSE(imported->serving());

  auto models = client_->ListModels();
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->models_size(), 1);
  EXPECT_EQ(models->models(0).id(), "imported:notebook");
  EXPECT_EQ(models->models(0).path(), "imported/notebook.ckpt");  // relative: no server path

  ASSERT_TRUE(client_->PromoteModel("imported:notebook").ok());
  v1::ClassifyRequest request;
  request.add_images()->set_data(
      catdog::testing::EncodePng(catdog::testing::SyntheticImage(0, 32, 1)));
  ASSERT_TRUE(client_->Classify(request).ok());

  Start();  // the same state dir: the imported model is served again
  auto serving = client_->GetServingModel();
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->id(), "imported:notebook");

  absl::StatusOr<std::string> exported = client_->ExportModel("imported:notebook");
  ASSERT_TRUE(exported.ok()) << exported.status();
  ASSERT_TRUE(common::ImportStateDict(*exported, {}, dir_.Sub("back.ckpt")).ok());
  EXPECT_TRUE(torch::equal(Logits(dir_.Sub("random.ckpt")), Logits(dir_.Sub("back.ckpt"))));
}

TEST_F(ModelServiceTest, BadUploadsAreRefusedAndLeaveNothing) {
  ServerOptions o = Options();
  o.max_import_mb = 4;  // a width-1/8 model is about 1 MB
  Start(o);
  const auto code = [&](const v1::ImportModelHeader& h, const std::string& bytes) {
    return client_->ImportModel(h, bytes).status().code();
  };
  EXPECT_EQ(code(Header("../escape"), state_dict_), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Header("garbage"), std::string(5000, 'x')), absl::StatusCode::kInvalidArgument);
  v1::ImportModelHeader three = Header("three");
  three.add_class_names("fox");
  EXPECT_EQ(code(three, state_dict_), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Header("huge"), state_dict_ + std::string(4 << 20, '\0')), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(ImportedFiles().empty());

  ASSERT_TRUE(client_->ImportModel(Header("once"), state_dict_).ok());
  EXPECT_EQ(code(Header("once"), state_dict_), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ImportedFiles(), std::vector<std::string>{"once.ckpt"});

  EXPECT_EQ(client_->ExportModel("imported:nothing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->ExportModel("job-1/best").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->ExportModel("file:/etc/passwd").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->PromoteModel("imported:nothing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelServiceTest, AStalledUploadIsCutOffAndFreesTheImportSlot) {
  ServerOptions o = Options();
  o.upload_timeout = absl::Milliseconds(300);
  Start(o);
  auto stub = v1::ModelService::NewStub(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::Model model;
  auto writer = stub->ImportModel(&context, &model);
  v1::ImportModelRequest header;
  *header.mutable_header() = Header("stalled");
  ASSERT_TRUE(writer->Write(header));
  // The client stalls (never half-closes): the server ends the call...
  const grpc::Status status = writer->Finish();
  EXPECT_FALSE(status.ok());
  // ...and the next import gets the slot.
  ASSERT_TRUE(client_->ImportModel(Header("after"), state_dict_).ok());
  EXPECT_EQ(ImportedFiles(), std::vector<std::string>{"after.ckpt"});
}

TEST_F(ModelServiceTest, EvaluatesAStoredModelOnADatasetUnderTheDataRoot) {
  catdog::testing::WriteSyntheticDataset(dir_.Sub("data/synth"), 10, 32);
  Start();
  ASSERT_TRUE(client_->ImportModel(Header("random"), state_dict_).ok());
  v1::EvaluateModelRequest request;
  request.set_model_id("imported:random");
  request.set_dataset("synth");
  request.set_max_mistakes(4);
  int64_t last_done = 0, progress_calls = 0;
  auto report = client_->EvaluateModel(request, [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 20);
    EXPECT_GE(done, last_done);
    last_done = done;
    ++progress_calls;
  });
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GE(progress_calls, 1);
  EXPECT_EQ(report->model_id(), "imported:random");
  EXPECT_EQ(report->dataset(), "synth");
  EXPECT_EQ(report->metrics().count(), 20);
  ASSERT_EQ(report->metrics().per_class_size(), 2);
  ASSERT_EQ(report->metrics().confusion_size(), 4);
  int64_t wrong = report->metrics().confusion(1) + report->metrics().confusion(2);
  EXPECT_EQ(report->mistakes_size(), std::min<int64_t>(4, wrong));
  for (const v1::Mistake& m : report->mistakes()) {
    EXPECT_EQ(m.path().find(dir_.path()), std::string::npos);  // relative, no server path
    EXPECT_FALSE(m.thumbnail().empty());
  }

  request.set_dataset("../outside");
  EXPECT_EQ(client_->EvaluateModel(request, nullptr).status().code(), absl::StatusCode::kPermissionDenied);
  request.set_dataset("synth");
  request.set_model_id("imported:nothing");
  EXPECT_EQ(client_->EvaluateModel(request, nullptr).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace catdog::server
