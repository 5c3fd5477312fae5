// Prometheus metrics: a real Server with --metrics-listen on a free port,
// scraped over HTTP and parsed as the text format.
#include "server/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <regex>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "client/catdog_client.h"
#include "server/server.h"
#include "tests/support/random_checkpoint.h"
#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

// GET /metrics; the body.
std::string Scrape(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)::write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// "name{labels}" -> value, every sample line parsed; a line that is not a
// comment and not a sample fails the test.
std::map<std::string, double> Parse(const std::string& text) {
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+)$)");
  std::map<std::string, double> samples;
  for (const absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line[0] == '#') continue;
    std::cmatch m;
    const std::string l(line);
    EXPECT_TRUE(std::regex_match(l.c_str(), m, kSample)) << "not a sample line: " << l;
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(m[3].str(), &value) || m[3].str() == "+Inf" || m[3].str() == "NaN") << l;
    samples[m[1].str()] = value;
  }
  return samples;
}

TEST(MetricsTest, ScrapeShowsRequestsBatchesQueueModelJobsAndMemory) {
  catdog::testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("data"));
  catdog::testing::WriteRandomCheckpoint(dir.Sub("random.ckpt"));
  ServerOptions o;
  o.listen_address = "127.0.0.1:0";
  o.data_root = dir.Sub("data");
  o.state_dir = dir.Sub("state");
  o.threads = 2;
  o.serve_checkpoint = dir.Sub("random.ckpt");
  o.metrics_listen = "127.0.0.1:0";
  auto server = Server::Create(o);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->metrics_port(), 0);
  auto client = client::CatdogClient::Connect((*server)->address());
  v1::ClassifyRequest request;
  for (int i = 0; i < 3; ++i) {
    request.add_images()->set_data(catdog::testing::EncodePng(catdog::testing::SyntheticImage(i % 2, 32, i)));
  }
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client->Classify(request).ok());
  request.add_images()->set_data("not an image");
  request.mutable_images()->DeleteSubrange(0, 3);
  request.add_images()->set_data(std::string(10, '\0'));
  for (int i = 0; i < 300; ++i) request.add_images()->set_data("x");  // over --max-images-per-request
  EXPECT_EQ(client->Classify(request).status().code(), absl::StatusCode::kInvalidArgument);

  const std::string text = Scrape((*server)->metrics_port());
  const std::map<std::string, double> s = Parse(text);
  EXPECT_EQ(s.at(R"(catdog_inference_request_total{code="OK"})"), 4);
  EXPECT_EQ(s.at(R"(catdog_inference_request_total{code="INVALID_ARGUMENT"})"), 1);
  EXPECT_EQ(s.at(R"(catdog_inference_request_duration_seconds_count{code="OK"})"), 4);
  EXPECT_EQ(s.at(R"(catdog_inference_request_duration_seconds_bucket{code="OK",le="+Inf"})"), 4);
  EXPECT_EQ(s.at("catdog_inference_queue_duration_seconds_count"), 12);  // one per image
  EXPECT_EQ(s.at("catdog_inference_compute_duration_seconds_count"), 12);
  EXPECT_GE(s.at("catdog_inference_batch_size_count"), 4);
  EXPECT_EQ(s.at("catdog_inference_batch_size_sum"), 12);
  EXPECT_GE(s.at("catdog_inference_intra_op_threads"), 1);
  EXPECT_EQ(s.at("catdog_inference_count"), 12);
  EXPECT_EQ(s.at("catdog_inference_queue_depth"), 0);
  EXPECT_EQ(s.at(R"(catdog_serving_model_info{model_id="file:random.ckpt"})"), 1);  // no server path
  EXPECT_EQ(s.at(R"(catdog_model_loads_total{model_id="file:random.ckpt"})"), 1);
  EXPECT_EQ(s.at(R"(catdog_jobs{state="RUNNING"})"), 0);
  EXPECT_GT(s.at("process_resident_memory_bytes"), 10e6);
  EXPECT_NE(text.find("# TYPE catdog_inference_request_duration_seconds histogram"), std::string::npos);
  EXPECT_EQ(text.find(dir.path()), std::string::npos);
}

TEST(MetricsTest, ATakenPortIsAStartError) {
  Metrics first;
  ASSERT_TRUE(first.Serve("127.0.0.1:0", [] { return MetricsSnapshot{}; }).ok());
  Metrics second;
  const absl::Status taken =
      second.Serve("127.0.0.1:" + std::to_string(first.port()), [] { return MetricsSnapshot{}; });
  EXPECT_EQ(taken.code(), absl::StatusCode::kUnavailable) << taken;
}

}  // namespace
}  // namespace catdog::server
