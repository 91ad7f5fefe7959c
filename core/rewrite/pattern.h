#pragma once
/// Pattern and PatternSet: named, prioritised graph rewrites.
///
/// A Pattern is rooted at one op type (the cheap filter), has a benefit (roughly the number of
/// nodes it removes; higher is tried first) and a name. match() only reads the graph and, when it
/// fails, says why in words a GUI can show ("output 0 has two users"). apply() mutates through
/// the Rewriter and is only called right after a successful match on the same node. "Did not
/// match" is not an error; apply() failing is (the driver reverts that application).
///
/// Registration is explicit (addCleanupPatterns(set), ...); nothing registers itself.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/ir/graph.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::rewrite {

/// The outcome of Pattern::match: success, or failure with a human-readable reason.
class MatchResult {
public:
    static MatchResult success() { return MatchResult(true, {}); }
    static MatchResult failure(std::string reason) { return MatchResult(false, std::move(reason)); }
    /// `return MatchResult::fail("output {} has {} users", 0, n);`
    template <class... Args>
    static MatchResult fail(fmt::format_string<Args...> format, Args&&... args) {
        return failure(fmt::format(format, std::forward<Args>(args)...));
    }

    bool matched() const { return m_matched; }
    explicit operator bool() const { return m_matched; }
    /// Why it did not match; empty on success.
    const std::string& reason() const { return m_reason; }

private:
    MatchResult(bool matched, std::string reason)
        : m_matched(matched), m_reason(std::move(reason)) {}
    bool m_matched;
    std::string m_reason;
};

/// A rewrite rooted at nodes of one op type in the default ONNX domain.
class Pattern {
public:
    Pattern(std::string name, std::string rootOpType, int benefit)
        : m_name(std::move(name)), m_rootOpType(std::move(rootOpType)), m_benefit(benefit) {}
    virtual ~Pattern() = default;

    /// Debug and log name, e.g. "IdentityElimination".
    const std::string& name() const { return m_name; }
    /// Op type of the nodes the pattern is tried on.
    const std::string& rootOpType() const { return m_rootOpType; }
    /// Priority: roughly the number of nodes removed. Higher is tried first.
    int benefit() const { return m_benefit; }
    /// The cheap filter: op type and (by default) the default domain.
    virtual bool isRootCandidate(const ir::Node& node) const {
        return node.opType == m_rootOpType && ir::isDefaultDomain(node.domain);
    }

    /// Whether the pattern applies at `root` (a root candidate). Reads only.
    virtual MatchResult match(const ir::Node& root) const = 0;
    /// Rewrites at `root`, which just matched. Fails only on a bug or a broken graph.
    virtual Status apply(Rewriter& rewriter, ir::Node& root) const = 0;

private:
    std::string m_name;
    std::string m_rootOpType;
    int m_benefit;
};

/// An ordered collection of patterns, indexed by root op type.
class PatternSet {
public:
    /// Adds a pattern (kept in registration order among equal benefits).
    Pattern& add(std::unique_ptr<Pattern> pattern);
    /// `set.emplace<IdentityElimination>();`
    template <class P, class... Args>
    P& emplace(Args&&... args) {
        auto p = std::make_unique<P>(std::forward<Args>(args)...);
        P& ref = *p;
        add(std::move(p));
        return ref;
    }

    /// Every pattern, in registration order.
    std::vector<const Pattern*> patterns() const;
    /// Patterns whose root op type is `opType`, highest benefit first (stable).
    const std::vector<const Pattern*>& patternsFor(std::string_view opType) const;
    std::size_t size() const { return m_patterns.size(); }
    bool empty() const { return m_patterns.empty(); }
    /// The pattern called `name`, or null.
    const Pattern* find(std::string_view name) const;

private:
    std::vector<std::unique_ptr<Pattern>> m_patterns;
    std::vector<std::pair<std::string, std::vector<const Pattern*>>> m_byRoot;
};

}  // namespace wh::rewrite
