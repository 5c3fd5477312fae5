#include "client/render.h"

#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/time/clock.h"

namespace catdog::client {
namespace {

TEST(ToJsonTest, NumbersAreNumbersFieldsKeepTheirOrderAndUnsetOneofsAreLeftOut) {
  v1::JobEvent event;
  event.set_sequence(int64_t{1} << 40);
  v1::Progress* p = event.mutable_progress();
  p->set_epoch(3);
  p->set_batches_done(5);
  p->set_batches_total(8);
  p->set_running_loss(std::nan(""));
  const std::string json = ToJson(event);
  EXPECT_EQ(json, R"({"sequence":1099511627776,"progress":{"epoch":3,"batches_done":5,"batches_total":8,)"
                  R"("running_loss":null}})");
  EXPECT_EQ(nlohmann::json::parse(json)["sequence"].get<int64_t>(), int64_t{1} << 40);
}

TEST(ToJsonTest, DefaultsEnumsRepeatedAndBytesAreWritten) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::RUNNING);
  job.add_class_names("cat");
  job.mutable_config()->set_epochs(15);  // proto3 optional: written when set
  const nlohmann::json j = nlohmann::json::parse(ToJson(job));
  EXPECT_EQ(j["state"], "RUNNING");
  EXPECT_EQ(j["class_names"], nlohmann::json::array({"cat"}));
  EXPECT_EQ(j["epochs_completed"], 0);  // a default is written
  EXPECT_EQ(j["config"]["epochs"], 15);
  EXPECT_FALSE(j["config"].contains("image_size"));  // an unset optional is not
  v1::Image image;
  image.set_data(std::string("\x00\xff", 2));
  EXPECT_EQ(nlohmann::json::parse(ToJson(image))["data"], "AP8=");
}

TEST(DurationTest, ARunningJobCountsToNow) {
  v1::Job job;
  EXPECT_EQ(Duration(job, absl::Now()), "-");
  job.set_started_unix_ms(1'000'000);
  EXPECT_EQ(Duration(job, absl::FromUnixMillis(1'042'000)), "42s");
  job.set_finished_unix_ms(1'010'000);
  EXPECT_EQ(Duration(job, absl::FromUnixMillis(1'042'000)), "10s");
}

TEST(JobsTableTest, ShowsTheTimeBudgetsPlanOnceMade) {
  v1::ListJobsResponse jobs;
  v1::Job* job = jobs.add_jobs();
  job->set_id("job-1");
  job->mutable_config()->set_epochs(100);
  job->mutable_config()->set_time_budget_min(15);
  job->set_epochs_completed(2);
  EXPECT_EQ(PlannedEpochs(*job), 100);  // before the first epoch: --epochs
  EXPECT_NE(JobsTable(jobs).find("  2/100 "), std::string::npos) << JobsTable(jobs);
  job->set_planned_epochs(46);
  EXPECT_EQ(PlannedEpochs(*job), 46);
  EXPECT_NE(JobsTable(jobs).find("  2/46  "), std::string::npos) << JobsTable(jobs);
  EXPECT_NE(JobDetails(*job).find("epochs:     2 done of 46 (planned for 15 min)"), std::string::npos)
      << JobDetails(*job);
}

TEST(ProgressBarTest, SaysTheEpochOfHowManyAndWhenItEnds) {
  v1::Progress p;
  p.set_epoch(3);
  p.set_batches_done(10);
  p.set_batches_total(40);
  p.set_running_loss(0.5);
  EXPECT_EQ(ProgressBar(p, 15, absl::Seconds(65), 8), "epoch 3 of 15 [##......] 10/40 batches, loss 0.5000, epoch ends in 1:05");
  EXPECT_EQ(ProgressBar(p, 0, std::nullopt, 8), "epoch 3 [##......] 10/40 batches, loss 0.5000");
}

TEST(EpochEtaTest, EstimatesFromThePaceSinceTheWatchMetTheEpoch) {
  EpochEta eta;
  v1::Progress p;
  p.set_epoch(2);
  p.set_batches_total(40);
  p.set_batches_done(10);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(eta.Update(p, t0).has_value());  // no pace yet
  p.set_batches_done(20);
  EXPECT_EQ(*eta.Update(p, t0 + absl::Seconds(10)), absl::Seconds(20));  // 1 s a batch, 20 left
  p.set_epoch(3);
  p.set_batches_done(1);
  EXPECT_FALSE(eta.Update(p, t0 + absl::Seconds(30)).has_value());  // a new epoch starts over
}

}  // namespace
}  // namespace catdog::client
