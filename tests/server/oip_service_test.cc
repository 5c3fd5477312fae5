// The Open Inference Protocol on a real in-process catdogd: the same answers
// as catdog.v1 Classify, through the same batcher, and clear refusals.
#include <filesystem>

#include <gtest/gtest.h>

#include <grpcpp/create_channel.h>

#include "client/catdog_client.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/server.h"
#include "tests/support/random_checkpoint.h"
#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

class OipServiceTest : public ::testing::Test {
 protected:
  void Start(bool with_model) {
    std::filesystem::create_directories(dir_.Sub("data"));
    ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    o.data_root = dir_.Sub("data");
    o.state_dir = dir_.Sub("state");
    o.threads = 2;
    if (with_model) {
      catdog::testing::WriteRandomCheckpoint(dir_.Sub("model.ckpt"));
      o.serve_checkpoint = dir_.Sub("model.ckpt");
    }
    auto server = Server::Create(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  grpc::Status Infer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response) {
    grpc::ClientContext context;
    return stub_->ModelInfer(&context, request, response);
  }

  static std::vector<std::string> Images() {
    std::vector<std::string> images;
    for (int i = 0; i < 3; ++i) {
      images.push_back(catdog::testing::EncodePng(catdog::testing::SyntheticImage(i % 2, 48, 20 + i)));
    }
    return images;
  }

  static inference::ModelInferRequest BytesRequest(const std::vector<std::string>& images) {
    inference::ModelInferRequest r;
    r.set_model_name("catdog");
    auto* input = r.add_inputs();
    input->set_name("image");
    input->set_datatype("BYTES");
    input->add_shape(static_cast<int64_t>(images.size()));
    for (const std::string& image : images) input->mutable_contents()->add_bytes_contents(image);
    return r;
  }

  catdog::testing::TempDir dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(OipServiceTest, ModelInferAnswersAsClassifyDoes) {
  Start(/*with_model=*/true);
  const std::vector<std::string> images = Images();
  inference::ModelInferResponse response;
  const grpc::Status status = Infer(BytesRequest(images), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_name(), "catdog");
  EXPECT_EQ(response.model_version(), "file:model.ckpt");  // no server path
  ASSERT_EQ(response.outputs_size(), 2);
  const auto& probabilities = response.outputs(0).contents().fp32_contents();
  ASSERT_EQ(probabilities.size(), 6);

  v1::ClassifyRequest classify;
  for (const std::string& image : images) classify.add_images()->set_data(image);
  auto classified = client::CatdogClient::Connect(server_->address())->Classify(classify);
  ASSERT_TRUE(classified.ok()) << classified.status();
  for (int i = 0; i < 3; ++i) {
    const v1::ImageResult& r = classified->results(i);
    EXPECT_EQ(response.outputs(1).contents().bytes_contents(i), r.label());
    for (int c = 0; c < 2; ++c) EXPECT_NEAR(probabilities[i * 2 + c], r.probabilities(c), 1e-6);
  }

  inference::ModelMetadataRequest metadata_request;
  metadata_request.set_name("catdog");
  inference::ModelMetadataResponse metadata;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ModelMetadata(&context, metadata_request, &metadata).ok());
  ASSERT_EQ(metadata.inputs_size(), 2);
  EXPECT_EQ(std::vector<int64_t>(metadata.inputs(1).shape().begin(), metadata.inputs(1).shape().end()),
            (std::vector<int64_t>{-1, 3, 32, 32}));
}

TEST_F(OipServiceTest, RefusalsAreClear) {
  Start(/*with_model=*/false);
  inference::ServerReadyResponse ready;
  grpc::ClientContext ready_context;
  ASSERT_TRUE(stub_->ServerReady(&ready_context, inference::ServerReadyRequest(), &ready).ok());
  EXPECT_FALSE(ready.ready());  // nothing served yet
  inference::ModelInferResponse response;
  EXPECT_EQ(Infer(BytesRequest(Images()), &response).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  server_.reset();
  Start(/*with_model=*/true);
  std::vector<std::string> images = Images();
  images[1] = "not an image";
  const grpc::Status bad_image = Infer(BytesRequest(images), &response);
  EXPECT_EQ(bad_image.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad_image.error_message().find("image 1"), std::string::npos) << bad_image.error_message();
  inference::ModelInferRequest pinned = BytesRequest(Images());
  pinned.set_model_version("job-9/best");
  EXPECT_EQ(Infer(pinned, &response).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  inference::ModelInferRequest other = BytesRequest(Images());
  other.set_model_name("resnet50");
  EXPECT_EQ(Infer(other, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace catdog::server
