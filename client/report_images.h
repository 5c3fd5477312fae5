// Pictures of results, drawn with OpenCV: the most confident mistakes of an
// evaluation as a labelled grid, and a job's loss and accuracy curves.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "catdog/v1/catdog.pb.h"

namespace catdog::client {

// One tile per mistake (up to 8 per row), labelled "true>predicted p" on a
// red band. FAILED_PRECONDITION when the report has no mistake to draw.
absl::Status WriteMistakesGrid(const v1::EvaluationReport& report, const std::string& out);

// Two panels: train and valid loss, valid accuracy (and the test accuracies
// of the best and last weights when the job has them) per epoch; the best
// epoch marked. `job` from GetJob with history. FAILED_PRECONDITION when no
// epoch has completed.
absl::Status WriteCurves(const v1::Job& job, const std::string& out);

}  // namespace catdog::client
