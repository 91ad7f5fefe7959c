#pragma once
/// Status and Expected<T>: how every core API reports failure. No exceptions cross a core API or
/// the plugin boundary; adapters (protobuf, oneDNN) catch theirs and return a Status.

#include <string>
#include <utility>

#include <fmt/format.h>
#include <tl/expected.hpp>

namespace wh {

/// What went wrong, coarse enough to choose a CLI exit code (see shared/CLI.md).
enum class StatusCode {
    kOk = 0,
    kUsage,        ///< the caller asked for something malformed (exit 1)
    kBadInput,     ///< a model, data set or recipe is invalid or hostile (exit 2)
    kUnsupported,  ///< valid but beyond what we implement, e.g. an operator (exit 3)
    kCancelled,    ///< the user cancelled (exit 4)
    kIo,           ///< the file system failed us (exit 2: the input cannot be read/written)
    kInternal,     ///< a bug of ours
};

/// A result without a value. Cheap to copy when ok.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(StatusCode code, std::string message) : m_code(code), m_message(std::move(message)) {}

    static Status ok() { return {}; }
    bool isOk() const { return m_code == StatusCode::kOk; }
    explicit operator bool() const { return isOk(); }
    StatusCode code() const { return m_code; }
    /// One line, naming the file and the node or tensor where there is one.
    const std::string& message() const { return m_message; }

private:
    StatusCode m_code = StatusCode::kOk;
    std::string m_message;
};

/// A value or the Status that explains its absence.
template <class T>
using Expected = tl::expected<T, Status>;

/// `return error(StatusCode::kBadInput, "{}: tensor '{}' ...", path, name);`
template <class... Args>
tl::unexpected<Status> error(StatusCode code, fmt::format_string<Args...> format, Args&&... args) {
    return tl::unexpected<Status>(Status(code, fmt::format(format, std::forward<Args>(args)...)));
}

/// Builds a Status (not wrapped in unexpected), for functions that return Status.
template <class... Args>
Status makeStatus(StatusCode code, fmt::format_string<Args...> format, Args&&... args) {
    return Status(code, fmt::format(format, std::forward<Args>(args)...));
}

/// The CLI exit code of a Status (0 for ok).
int exitCodeOf(const Status& status);

namespace detail {
inline Status toStatus(Status s) { return s; }
template <class T>
Status toStatus(const Expected<T>& e) {
    return e ? Status::ok() : e.error();
}
}  // namespace detail

}  // namespace wh

#define WH_CONCAT_INNER(a, b) a##b
#define WH_CONCAT(a, b) WH_CONCAT_INNER(a, b)

/// Returns the Status (wrapped as needed) from the enclosing function if `expr` failed.
#define WH_RETURN_IF_ERROR(expr)                                        \
    do {                                                                \
        ::wh::Status wh_status_ = ::wh::detail::toStatus(expr);        \
        if (!wh_status_.isOk()) return tl::unexpected(wh_status_);      \
    } while (0)

/// Same, for functions that return a plain Status.
#define WH_RETURN_STATUS_IF_ERROR(expr)                          \
    do {                                                         \
        ::wh::Status wh_status_ = ::wh::detail::toStatus(expr); \
        if (!wh_status_.isOk()) return wh_status_;               \
    } while (0)

#define WH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                           \
    if (!tmp) return tl::unexpected(tmp.error()); \
    lhs = std::move(*tmp)

/// `WH_ASSIGN_OR_RETURN(auto model, loadModel(path));`
#define WH_ASSIGN_OR_RETURN(lhs, expr) \
    WH_ASSIGN_OR_RETURN_IMPL(WH_CONCAT(wh_expected_, __LINE__), lhs, expr)

#define WH_ASSIGN_OR_RETURN_STATUS_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                                  \
    if (!tmp) return tmp.error();                       \
    lhs = std::move(*tmp)

/// Same as WH_ASSIGN_OR_RETURN, for functions that return a plain Status.
#define WH_ASSIGN_OR_RETURN_STATUS(lhs, expr) \
    WH_ASSIGN_OR_RETURN_STATUS_IMPL(WH_CONCAT(wh_expected_, __LINE__), lhs, expr)

/// Programmer errors only (never bad input): aborts with the location.
#define WH_ASSERT(cond)                                                                    \
    do {                                                                                   \
        if (!(cond)) ::wh::detail::assertFailed(#cond, __FILE__, __LINE__);               \
    } while (0)

namespace wh::detail {
[[noreturn]] void assertFailed(const char* expr, const char* file, int line);
}
