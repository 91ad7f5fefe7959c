#include "core/engine/write_back.h"

#include <vector>

#include <fmt/format.h>

namespace wh::engine {

namespace {

bool isFloating(ir::DType t) {
    return t == ir::DType::kFloat || t == ir::DType::kDouble;
}

// `value`'s elements as a buffer of `dtype` (float or double).
std::shared_ptr<const ir::Buffer> converted(const HostTensor& value, ir::DType dtype) {
    if (value.dtype() == dtype)
        return std::make_shared<const ir::Buffer>(value.raw(), value.byteSize());
    // The plan trains float/double; convert to the model's own type.
    const auto n = static_cast<std::size_t>(value.numElements());
    if (dtype == ir::DType::kFloat) {
        std::vector<float> v(n);
        for (std::size_t i = 0; i < n; ++i)
            v[i] = static_cast<float>(value.at(static_cast<int64_t>(i)));
        return std::make_shared<const ir::Buffer>(v.data(), v.size() * sizeof(float));
    }
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = value.at(static_cast<int64_t>(i));
    return std::make_shared<const ir::Buffer>(v.data(), v.size() * sizeof(double));
}

Status store(rewrite::Rewriter& rewriter, const std::string& name, const HostTensor& value) {
    ir::Value* v = rewriter.graph().findValue(name);
    ir::Node* constant = nullptr;
    const ir::Tensor* t = nullptr;
    if (v && v->hasInitializer()) {
        t = v->initializer();
    } else if (v && v->producer() && ir::isOnnxOp(*v->producer(), "Constant")) {
        const ir::Attribute* a = v->producer()->attribute("value");
        if (a && a->t) {
            constant = v->producer();
            t = &*a->t;
        }
    }
    if (!t)
        return makeStatus(StatusCode::kBadInput,
                          "tensor '{}' is neither an initializer nor a Constant of the model",
                          name);
    if (t->dims != value.dims() || !isFloating(t->dtype))
        return makeStatus(StatusCode::kBadInput, "tensor '{}' is {}{}, the trained one {}{}", name,
                          ir::dtypeName(t->dtype), dimsToString(t->dims),
                          ir::dtypeName(value.dtype()), dimsToString(value.dims()));
    std::shared_ptr<const ir::Buffer> data = converted(value, t->dtype);
    // A parameter that did not change (frozen, or no gradient reached it) is no edit.
    if (data->bytes() == (t->data ? t->data->bytes() : std::string())) return Status::ok();
    ir::Tensor trained = *t;  // name, dims, dtype, doc string and storage stay
    trained.data = std::move(data);
    if (!constant) return rewriter.replaceInitializer(*v, std::move(trained));
    ir::Attribute attribute = constant->attribute("value")->clone();
    attribute.t = std::move(trained);
    return rewriter.setAttribute(*constant, std::move(attribute));
}

}  // namespace

Status writeBack(const TrainingPlan& plan, rewrite::Rewriter& rewriter) {
    rewrite::ScopedGroup group(rewriter, kWriteBackLabel);
    auto fail = [&](Status status) {
        group.cancel();
        return status;
    };
    for (const Parameter& p : plan.parameters())
        if (Status s = store(rewriter, p.name, p.value); !s.isOk()) return fail(std::move(s));
    for (const auto& [name, value] : plan.state())
        if (Status s = store(rewriter, name, value); !s.isOk()) return fail(std::move(s));
    return Status::ok();
}

}  // namespace wh::engine
