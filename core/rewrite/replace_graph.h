#pragma once
/// replaceGraph: turns a graph into another one (same graph inputs and outputs) through the
/// Rewriter, so that the change is one undoable step — how the studio applies a compression
/// run's result to the open document (the compressed model becomes the document's next
/// revision, and Undo brings the original back exactly).
///
/// Initializers of `target` that the graph lacks are added, those whose tensor differs are
/// replaced, and those of the graph that `target` has not and nothing reads any more are removed;
/// every node is replaced by `target`'s nodes (same op types, names, attributes, wiring by value
/// name; a computed value named like one of `target`'s initializers is renamed out of the way
/// first). Refused, changing nothing (kUnsupported, saying why): other graph inputs or outputs,
/// or If/Loop/Scan subgraphs on either side. Call inside a Rewriter group to make it one step
/// (a failure midway then rolls back with cancelGroup()).

#include "core/ir/graph.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::rewrite {

Status replaceGraph(Rewriter& rewriter, const ir::Graph& target);

}  // namespace wh::rewrite
