#include "server/rpc/redact.h"

#include <gtest/gtest.h>

namespace catdog::server {
namespace {

TEST(PathRedactorTest, CutsTheServerFoldersFromTextAndPaths) {
  const PathRedactor r("/srv/data/", "/var/lib/catdog");
  EXPECT_EQ(r.Text("/srv/data/cats/x.jpg: not an image"), "cats/x.jpg: not an image");
  EXPECT_EQ(r.Text("dataset root /srv/data has 1 class"), "dataset root <data root> has 1 class");
  EXPECT_EQ(r.Text("cannot write /var/lib/catdog/jobs/job-1/best.ckpt"), "cannot write jobs/job-1/best.ckpt");
  EXPECT_EQ(r.Text("/srv/database and /x/srv/data/y stay"), "/srv/database and /x/srv/data/y stay");
  EXPECT_EQ(r.Path("/var/lib/catdog/jobs/job-1/best.ckpt"), "jobs/job-1/best.ckpt");
  EXPECT_EQ(r.Path("/home/ops/model.ckpt"), "model.ckpt");
  EXPECT_EQ(r.ModelId("file:/home/ops/model.ckpt"), "file:model.ckpt");
  EXPECT_EQ(r.ModelId("job-3/best"), "job-3/best");
  EXPECT_EQ(r.Status(absl::NotFoundError("/srv/data/x")).message(), "x");
}

TEST(PathRedactorTest, RelativeFoldersAreRedactedInTheirCanonicalFormOnly) {
  const PathRedactor r("data", "state");  // as given on a command line, relative
  EXPECT_EQ(r.Text("'dog' is a link that leads outside the data root"),
            "'dog' is a link that leads outside the data root");
}

}  // namespace
}  // namespace catdog::server
