#include "api/model_id.h"

#include <gtest/gtest.h>

namespace catdog::api {
namespace {

TEST(ModelIdTest, ParsesCheckpointsAndFilesAndPrintsThemBack) {
  for (const char* text :
       {"job-3/best", "job-3/last", "file:/models/a.ckpt", "file:relative/b.ckpt", "imported:notebook-v2.1"}) {
    absl::StatusOr<ModelId> id = ModelId::Parse(text);
    ASSERT_TRUE(id.ok()) << text << ": " << id.status();
    EXPECT_EQ(id->ToString(), text);
  }
  const ModelId best = *ModelId::Parse("job-3/best");
  EXPECT_FALSE(best.is_file());
  EXPECT_EQ(best.job_id(), "job-3");
  EXPECT_EQ(best.kind(), "best");
  EXPECT_EQ(best, ModelId::Checkpoint("job-3", "best"));
  EXPECT_NE(best, ModelId::Checkpoint("job-3", "last"));
  const ModelId file = *ModelId::Parse("file:/m/a.ckpt");
  EXPECT_TRUE(file.is_file());
  EXPECT_EQ(file.path(), "/m/a.ckpt");
  EXPECT_EQ(file.job_id(), "");
  const ModelId imported = *ModelId::Parse("imported:nb_1");
  EXPECT_TRUE(imported.is_imported());
  EXPECT_FALSE(imported.is_file());
  EXPECT_EQ(imported.name(), "nb_1");
  EXPECT_EQ(imported.job_id(), "");
  EXPECT_EQ(imported, ModelId::Imported("nb_1"));
}

TEST(ModelIdTest, RefusesAnythingElse) {
  for (const char* text : {"", "nonsense", "job-3", "job-3/", "/best", "job-3/middle", "file:", "imported:",
                           "imported:../etc", "imported:a/b", "imported:.hidden", "imported:a b"}) {
    EXPECT_EQ(ModelId::Parse(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  const std::string huge = "file:" + std::string(5000, 'x');
  const absl::Status too_long = ModelId::Parse(huge).status();
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(too_long.message().size(), 200u) << "the id is not echoed";
  const absl::Status long_name = ModelId::Parse("imported:" + std::string(4000, 'x')).status();
  EXPECT_EQ(long_name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(long_name.message().size(), 200u);
}

}  // namespace
}  // namespace catdog::api
