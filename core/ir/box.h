#pragma once
/// Box<T>: an optional value kept on the heap. It reads like std::optional (bool test, *, ->,
/// assignment from T, reset) but costs one pointer when empty, which matters for rarely used,
/// large members such as an Attribute's tensor: a model has hundreds of thousands of attributes.

#include <memory>
#include <utility>

namespace wh::ir {

template <class T>
class Box {
public:
    Box() = default;
    Box(T value) : m_ptr(std::make_unique<T>(std::move(value))) {}  // NOLINT: like optional
    Box(const Box& other) : m_ptr(other.m_ptr ? std::make_unique<T>(*other.m_ptr) : nullptr) {}
    Box(Box&&) noexcept = default;
    Box& operator=(const Box& other) {
        if (this != &other) m_ptr = other.m_ptr ? std::make_unique<T>(*other.m_ptr) : nullptr;
        return *this;
    }
    Box& operator=(Box&&) noexcept = default;
    Box& operator=(T value) {
        m_ptr = std::make_unique<T>(std::move(value));
        return *this;
    }

    bool has_value() const { return m_ptr != nullptr; }
    explicit operator bool() const { return has_value(); }
    T& operator*() { return *m_ptr; }
    const T& operator*() const { return *m_ptr; }
    T* operator->() { return m_ptr.get(); }
    const T* operator->() const { return m_ptr.get(); }
    T& value() { return *m_ptr; }
    const T& value() const { return *m_ptr; }
    void reset() { m_ptr.reset(); }
    template <class... Args>
    T& emplace(Args&&... args) {
        m_ptr = std::make_unique<T>(std::forward<Args>(args)...);
        return *m_ptr;
    }

private:
    std::unique_ptr<T> m_ptr;
};

}  // namespace wh::ir
