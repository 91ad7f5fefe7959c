#pragma once
/// writeBack(plan, rewriter): stores a TrainingPlan's trained parameters and BatchNormalization
/// running statistics into the model through a rewrite::Rewriter, so that the write-back is one
/// undoable step with Listener events (initializerChanged / nodeChanged), unlike
/// TrainingPlan::writeBack(ir::Model&), which writes the tensors directly.
///
/// For every plan.parameters() value, then every plan.state() tensor, in order: the graph's
/// tensor of the same name is replaced, keeping its name, position, dims and dtype (float or
/// double; the plan's values are converted) — an initializer through replaceInitializer(), a
/// weight held by an ONNX Constant node through setAttribute() of its `value` attribute. A tensor
/// whose bytes would not change (a frozen parameter) is left alone. All of it happens inside one
/// ScopedGroup labelled kWriteBackLabel, so it is one step of the log (none if nothing changed).
///
/// Typical use from a job: compile the plan on a snapshot, train, then write back into a
/// Rewriter over a clone of that snapshot and hand the recorded Step to the GUI, which replays
/// it on the document (rewrite::Rewriter::replay()).
///
/// Fails (kBadInput) if a name is neither an initializer nor a Constant of the graph, or if the
/// graph's tensor is not float/double or has other dims than the trained one (the message names
/// the tensor, its dtype and dims, and the trained ones); the group is then cancelled, so the
/// graph and the log are unchanged.
///
/// Thread-safety: as the Rewriter's (the graph's owner thread); the plan is only read.

#include "core/engine/training_plan.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::engine {

/// The label of the step writeBack() records.
inline constexpr const char* kWriteBackLabel = "Write back trained weights";

/// Replaces the graph's weights by the plan's trained parameters and state, as one step.
Status writeBack(const TrainingPlan& plan, rewrite::Rewriter& rewriter);

}  // namespace wh::engine
