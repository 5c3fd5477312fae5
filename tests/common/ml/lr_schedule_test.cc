#include "common/ml/lr_schedule.h"

#include <vector>

#include <gtest/gtest.h>

namespace catdog::common {
namespace {

TEST(PlateauSchedulerTest, ReducesAfterMoreThanPatienceBadEpochs) {
  PlateauScheduler::Options o;  // lr 1e-4, factor 0.1, patience 4
  PlateauScheduler s(o);
  EXPECT_FALSE(s.Step(1.0));  // best
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(s.Step(1.0)) << i;  // 4 bad epochs: not yet
  EXPECT_TRUE(s.Step(1.0));  // the 5th bad epoch exceeds patience
  EXPECT_DOUBLE_EQ(s.lr(), 1e-5);
  EXPECT_EQ(s.bad_epochs(), 0);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(s.Step(1.0));
  EXPECT_TRUE(s.Step(1.0));
  EXPECT_NEAR(s.lr(), 1e-6, 1e-18);
}

TEST(PlateauSchedulerTest, ImprovementResetsTheCount) {
  PlateauScheduler s(PlateauScheduler::Options{});
  const std::vector<double> losses = {1.0, 1.1, 1.2, 1.3, 1.4, 0.9, 1.0, 1.0, 1.0, 1.0};
  for (double l : losses) EXPECT_FALSE(s.Step(l));
  EXPECT_TRUE(s.Step(1.0));  // fifth epoch without beating 0.9
}

TEST(PlateauSchedulerTest, TinyImprovementBelowThresholdDoesNotCount) {
  PlateauScheduler s(PlateauScheduler::Options{});
  s.Step(1.0);
  // Relative threshold 1e-4: 0.99995 is not "better" than 1.0.
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(s.Step(0.99995));
  EXPECT_TRUE(s.Step(0.99995));
}

TEST(PlateauSchedulerTest, MinLrStopsReductions) {
  PlateauScheduler::Options o;
  o.patience = 0;
  o.min_lr = 5e-5;
  PlateauScheduler s(o);
  s.Step(1.0);
  EXPECT_TRUE(s.Step(1.0));
  EXPECT_DOUBLE_EQ(s.lr(), 5e-5);
  EXPECT_FALSE(s.Step(1.0));  // already at min_lr
}

TEST(WarmupCosineRateTest, RisesLinearlyThenFollowsTheCosineToZero) {
  const double peak = 2e-3;
  EXPECT_DOUBLE_EQ(WarmupCosineRate(peak, 0, 10, 110), peak / 10);
  EXPECT_DOUBLE_EQ(WarmupCosineRate(peak, 4, 10, 110), peak / 2);
  EXPECT_DOUBLE_EQ(WarmupCosineRate(peak, 9, 10, 110), peak);
  EXPECT_DOUBLE_EQ(WarmupCosineRate(peak, 10, 10, 110), peak);  // the cosine's start
  EXPECT_NEAR(WarmupCosineRate(peak, 60, 10, 110), peak / 2, 1e-12);  // halfway down
  EXPECT_NEAR(WarmupCosineRate(peak, 110, 10, 110), 0.0, 1e-12);
  EXPECT_LT(WarmupCosineRate(peak, 109, 10, 110), peak * 1e-3);
  for (int step = 11; step < 110; ++step) {
    EXPECT_LT(WarmupCosineRate(peak, step, 10, 110), WarmupCosineRate(peak, step - 1, 10, 110)) << step;
  }
  EXPECT_DOUBLE_EQ(WarmupCosineRate(peak, 0, 0, 100), peak);   // no warmup
  EXPECT_DOUBLE_EQ(WarmupCosineRate(peak, 50, 10, 0), peak);   // not planned yet: the peak
}

TEST(EpochsWithinBudgetTest, FitsWhatIsLeftAfterTheTestEvaluation) {
  // 10 min budget, 1 min gone, 30 s reserved: 8.5 min left at 60 s an epoch.
  EXPECT_EQ(EpochsWithinBudget(600, 60, 60, 30, 1, 100), 9);
  EXPECT_EQ(EpochsWithinBudget(600, 60, 60, 30, 1, 5), 5);     // capped by --epochs
  EXPECT_EQ(EpochsWithinBudget(60, 90, 90, 0, 1, 100), 1);     // over budget already: what is done
  EXPECT_EQ(EpochsWithinBudget(600, 400, 60, 0, 3, 100), 6);   // a resumed run keeps its epochs
}

TEST(EarlyStoppingTest, StopsWhenTriggerExceedsPatience) {
  EarlyStopping es(7);
  EXPECT_FALSE(es.Step(0.5));
  for (int i = 1; i <= 7; ++i) {
    EXPECT_FALSE(es.Step(0.6)) << i;
    EXPECT_EQ(es.trigger(), i);
  }
  EXPECT_TRUE(es.Step(0.6));  // 8 > 7
}

TEST(EarlyStoppingTest, ImprovementOrEqualLossResetsTrigger) {
  EarlyStopping es(2);
  es.Step(1.0);
  es.Step(1.5);
  es.Step(1.5);
  EXPECT_EQ(es.trigger(), 2);
  EXPECT_FALSE(es.Step(1.0));  // equal to best: not above it
  EXPECT_EQ(es.trigger(), 0);
  EXPECT_FALSE(es.Step(1.2));
  EXPECT_FALSE(es.Step(0.9));
  EXPECT_EQ(es.trigger(), 0);
  EXPECT_FALSE(es.Step(1.0));
  EXPECT_FALSE(es.Step(1.0));
  EXPECT_TRUE(es.Step(1.0));
}

}  // namespace
}  // namespace catdog::common
