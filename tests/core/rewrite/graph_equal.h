#pragma once
/// graphsEqual: structural equality of two graphs for the rewrite tests (undo must restore a
/// graph exactly). Compares node order, ids, op types, names, domains, doc strings, presence,
/// attributes (every field, recursively, tensor bytes), inputs/outputs by name, the graph
/// input/output/initializer/sparse initializer/value_info lists in order, and every value's type,
/// docString, presence, capture flag and producer. Not compared: the order of Graph::valueList()
/// and of Value::uses() (both unordered by contract) and nextNodeId() (ids are never reused).

#include <string>

#include "core/ir/graph.h"

namespace wh::test {

/// True if equal; otherwise false and, if `diff` is given, the first difference found.
bool graphsEqual(const ir::Graph& a, const ir::Graph& b, std::string* diff = nullptr);

}  // namespace wh::test
