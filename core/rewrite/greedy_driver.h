#pragma once
/// applyPatternsGreedily: applies a PatternSet to a graph until nothing more matches.
///
/// Each sweep walks the nodes in graph order; for a node it tries only the patterns rooted at its
/// op type (the cheap filter), highest benefit first, and applies the first that matches. Sweeps
/// repeat until one changes nothing (the fixpoint) or `maxIterations` is reached. All
/// applications form one undo step (a group labelled `groupLabel`), with one detail line each.

#include <functional>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/rewrite/pattern.h"
#include "core/rewrite/rewriter.h"

namespace wh::rewrite {

struct GreedyOptions {
    /// Upper bound on sweeps over the graph.
    int maxIterations = 10;
    /// Label of the undo step holding every application.
    std::string groupLabel = "Apply patterns";
    /// Called after each successful application, before the next match: a Listener can tell
    /// which of its events one application made (the lowering's node map does).
    std::function<void(const struct PatternApplication&)> afterEach;
};

/// One successful application.
struct PatternApplication {
    std::string pattern;
    ir::NodeId root = 0;
    std::string rootName;  ///< the root's displayName() before the rewrite
    int iteration = 0;
};

/// One pattern that was tried on a node and did not apply.
struct PatternMiss {
    std::string pattern;
    ir::NodeId node = 0;
    std::string nodeName;
    std::string reason;
};

/// What the driver did.
struct GreedyReport {
    std::vector<PatternApplication> applied;
    /// From the last sweep: every (pattern, node) tried that did not apply, and why. Includes
    /// patterns whose apply() failed (the reason starts with "apply failed:").
    std::vector<PatternMiss> notApplied;
    int iterations = 0;
    /// False if the iteration cap stopped the driver before a sweep changed nothing.
    bool converged = false;

    bool changed() const { return !applied.empty(); }
    /// Number of applications of the named pattern.
    int count(const std::string& pattern) const;
};

/// Applies `patterns` through `rewriter` to its graph (see the file comment).
GreedyReport applyPatternsGreedily(Rewriter& rewriter, const PatternSet& patterns,
                                   const GreedyOptions& options = {});

}  // namespace wh::rewrite
