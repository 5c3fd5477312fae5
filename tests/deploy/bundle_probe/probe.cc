// Exercises each bundled library once and prints "bundle probe: ok"; any
// missing library, unresolved symbol or called stub fails it.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <zlib.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "probe.grpc.pb.h"

namespace {

class EchoService final : public probe::Echo::Service {
  grpc::Status Say(grpc::ServerContext*, const probe::Ping* in, probe::Ping* out) override {
    out->set_text(in->text());
    return grpc::Status::OK;
  }
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "bundle probe: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bundle probe"};
  CLI11_PARSE(app, argc, argv);

  // OpenCV: a JPEG and a PNG round trip through imgcodecs (the stubbed libraries' importer).
  cv::Mat image(32, 32, CV_8UC3, cv::Scalar(10, 200, 30));
  cv::circle(image, {16, 16}, 8, cv::Scalar(250, 0, 0), -1);
  for (const char* ext : {".jpg", ".png"}) {
    std::vector<uchar> bytes;
    if (!cv::imencode(ext, image, bytes)) return Fail(std::string("imencode ") + ext);
    cv::Mat back = cv::imdecode(bytes, cv::IMREAD_COLOR);
    cv::Mat small;
    cv::resize(back, small, {8, 8});
    if (back.rows != 32 || small.cols != 8) return Fail(std::string("imdecode ") + ext);
  }

  // gRPC + Protobuf + the generated code: one call over loopback.
  EchoService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return Fail("gRPC server did not start");
  auto stub = probe::Echo::NewStub(
      grpc::CreateChannel(absl::StrFormat("127.0.0.1:%d", port), grpc::InsecureChannelCredentials()));
  probe::Ping ping, pong;
  ping.set_text("meow");
  grpc::ClientContext context;
  grpc::Status status = stub->Say(&context, ping, &pong);
  server->Shutdown();
  if (!status.ok() || pong.text() != "meow") return Fail("gRPC call: " + status.error_message());

  // SQLite, zlib, OpenSSL, JSON, Prometheus, spdlog.
  sqlite3* db = nullptr;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
      sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Fail("sqlite");
  }
  sqlite3_close(db);
  const unsigned char text[] = "catdog";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(text, 6, digest);
  // sha256sum and Python's zlib.crc32 of "catdog".
  if (digest[0] != 0xd8 || digest[31] != 0x43) return Fail("openssl");
  if (crc32(0L, text, 6) != 0x1c0550eUL) return Fail("zlib");
  if (nlohmann::json::parse(R"({"a": 2})")["a"] != 2) return Fail("json");
  prometheus::Registry registry;
  prometheus::BuildCounter().Name("probe_total").Register(registry).Add({}).Increment();
  if (registry.Collect().size() != 1) return Fail("prometheus");
  testing::InitGoogleTest(&argc, argv);
  spdlog::info("bundle probe: ok");
  return 0;
}
