#include "core/engine/dnnl/dnnl_common.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace wh::engine::dnnlk {

using dt = dnnl::memory::data_type;

dnnl::engine& cpuEngine() {
    static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

dnnl::stream& cpuStream() {
    thread_local dnnl::stream stream(cpuEngine());
    return stream;
}

dnnl::memory::dims toDnnl(const Dims& dims) {
    if (dims.empty()) return {1};
    return dnnl::memory::dims(dims.begin(), dims.end());
}

dnnl::memory::desc plainDesc(const Dims& dims, dt type) {
    const dnnl::memory::dims d = toDnnl(dims);
    dnnl::memory::dims strides(d.size(), 1);
    for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i)
        strides[static_cast<std::size_t>(i)] =
            strides[static_cast<std::size_t>(i) + 1] * d[static_cast<std::size_t>(i) + 1];
    return dnnl::memory::desc(d, type, strides);
}

dnnl::memory::desc stridedDesc(const Dims& dims, const Dims& strides, dt type) {
    return dnnl::memory::desc(toDnnl(dims), type,
                              dnnl::memory::dims(strides.begin(), strides.end()));
}

dnnl::memory unboundMemory(const dnnl::memory::desc& desc) {
    return dnnl::memory(desc, cpuEngine(), DNNL_MEMORY_NONE);
}

dnnl::memory reorderConstant(const HostTensor& plain, const dnnl::memory::desc& from,
                             const dnnl::memory::desc& to, float scale) {
    dnnl::memory src(from, cpuEngine(), const_cast<void*>(plain.raw()));
    dnnl::memory dst(to, cpuEngine());  // library-owned, lives as long as the kernel holds it
    dnnl::primitive_attr attr;
    if (scale != 1.0f) attr.set_output_scales(0, {scale});
    dnnl::reorder::primitive_desc pd(cpuEngine(), from, cpuEngine(), to, attr);
    dnnl::reorder(pd).execute(cpuStream(), src, dst);
    cpuStream().wait();
    return dst;
}

namespace {

/// Converts a tensor in a DnnlLayout to plain row-major.
class ToPlainKernel final : public DnnlKernel {
public:
    ToPlainKernel(const Dims& dims, const dnnl::memory::desc& from)
        : DnnlKernel("reorder", {dims}), m_dims(dims) {
        m_src = unboundMemory(from);
        m_dst = unboundMemory(plainDesc(dims, from.data_type()));
        m_dtype = dtypeOf(from.data_type());
        setExpectedTypes({m_dtype});
        m_reorder = dnnl::reorder(m_src, m_dst);
    }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        out[0]->ensure(m_dtype, m_dims);
        if (isByteNhwc(m_src.get_desc(), m_dims)) {
            transposeBytes(in[0]->raw(), out[0]->raw(), m_dims, false);
            return;
        }
        setHandle(m_src, *in[0]);
        m_dst.set_data_handle(out[0]->raw());
        m_reorder.execute(cpuStream(), m_src, m_dst);
        cpuStream().wait();
    }

private:
    Dims m_dims;
    ir::DType m_dtype;
    dnnl::memory m_src, m_dst;
    dnnl::reorder m_reorder;
};

}  // namespace

DnnlLayout::DnnlLayout(Dims dims, dnnl::memory::desc desc)
    : m_dims(std::move(dims)), m_desc(std::move(desc)) {}

std::string DnnlLayout::name() const {
    // oneDNN's own notation: dimensions outermost first, blocked ones in capitals, then the
    // inner blocks ("nChw16c").
    const dnnl_memory_desc_t& d = m_desc.data;
    if (d.format_kind != dnnl_blocked) return "opaque";
    const dnnl_blocking_desc_t& blk = d.format_desc.blocking;
    const char* letters = d.ndims == 3   ? "ncw"
                          : d.ndims == 4 ? "nchw"
                          : d.ndims == 5 ? "ncdhw"
                                         : "abcdef";
    std::vector<int> order(static_cast<std::size_t>(d.ndims));
    for (int i = 0; i < d.ndims; ++i) order[static_cast<std::size_t>(i)] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return blk.strides[a] > blk.strides[b]; });
    std::string name;
    for (int i : order) {
        bool blocked = false;
        for (int k = 0; k < blk.inner_nblks; ++k) blocked = blocked || blk.inner_idxs[k] == i;
        name += blocked ? static_cast<char>(letters[i] - 'a' + 'A') : letters[i];
    }
    for (int k = 0; k < blk.inner_nblks; ++k)
        name += std::to_string(blk.inner_blks[k]) + letters[blk.inner_idxs[k]];
    return name;
}

std::unique_ptr<Kernel> DnnlLayout::makeToPlain() const {
    return std::make_unique<ToPlainKernel>(m_dims, m_desc);
}

dnnl::memory::desc descOf(const TensorInfo& t) {
    if (const auto* layout = dynamic_cast<const DnnlLayout*>(t.layout.get())) return layout->desc();
    return plainDesc(t.dims, dnnlType(t.dtype));
}

bool hasForeignLayout(std::span<const TensorInfo> inputs) {
    for (const TensorInfo& t : inputs)
        if (t.layout && !dynamic_cast<const DnnlLayout*>(t.layout.get())) return true;
    return false;
}

TensorInfo floatInfo(Dims dims, const dnnl::memory::desc& desc) {
    TensorInfo t = floatInfo(dims);
    if (desc != plainDesc(dims)) t.layout = std::make_shared<DnnlLayout>(std::move(dims), desc);
    return t;
}

void ensureFor(HostTensor& out, const Dims& dims, const dnnl::memory::desc& desc) {
    out.ensure(dtypeOf(desc.data_type()), dims, desc.get_size());
}

dt dnnlType(ir::DType type) {
    switch (type) {
        case ir::DType::kUInt8:
            return dt::u8;
        case ir::DType::kInt8:
            return dt::s8;
        case ir::DType::kInt32:
            return dt::s32;
        default:
            return dt::f32;
    }
}

ir::DType dtypeOf(dt type) {
    switch (type) {
        case dt::u8:
            return ir::DType::kUInt8;
        case dt::s8:
            return ir::DType::kInt8;
        case dt::s32:
            return ir::DType::kInt32;
        default:
            return ir::DType::kFloat;
    }
}

bool isByteNhwc(const dnnl::memory::desc& desc, const Dims& dims) {
    const dt type = desc.data_type();
    return dims.size() == 4 && (type == dt::u8 || type == dt::s8) &&
           desc == dnnl::memory::desc(toDnnl(dims), type, dnnl::memory::format_tag::nhwc);
}

void transposeBytes(const void* src, void* dst, const Dims& dims, bool toNhwc) {
    const int64_t N = dims[0], C = dims[1], HW = dims[2] * dims[3];
    const auto* from = static_cast<const uint8_t*>(src);
    auto* to = static_cast<uint8_t*>(dst);
#pragma omp parallel for collapse(2) if (N * C * HW > (1 << 16))
    for (int64_t n = 0; n < N; ++n)
        for (int64_t p = 0; p < HW; ++p) {
            const int64_t base = n * C * HW;
            for (int64_t c = 0; c < C; ++c) {
                if (toNhwc)
                    to[base + p * C + c] = from[base + c * HW + p];
                else
                    to[base + c * HW + p] = from[base + p * C + c];
            }
        }
}

std::string shapesToString(std::span<const TensorInfo> inputs) {
    std::vector<std::string> parts;
    for (const TensorInfo& t : inputs)
        parts.push_back(t.dtype == ir::DType::kUndefined ? "-" : dimsToString(t.dims));
    return fmt::format("{}", fmt::join(parts, " x "));
}

Status requireStaticFloat(const KernelContext& ctx, int count, int optionalFrom) {
    for (int i = 0; i < count; ++i) {
        if (!ctx.hasInput(i)) {
            if (i >= optionalFrom) continue;
            return makeStatus(StatusCode::kUnsupported, "oneDNN: input {} is missing", i);
        }
        const TensorInfo& t = ctx.inputs[static_cast<std::size_t>(i)];
        if (t.dtype != ir::DType::kFloat)
            return makeStatus(StatusCode::kUnsupported,
                              "oneDNN kernels take float32 only, input {} is {}", i,
                              ir::dtypeName(t.dtype));
        if (!t.shapeKnown())
            return makeStatus(StatusCode::kUnsupported,
                              "oneDNN kernels need static shapes, input {} is {}", i,
                              t.rankKnown ? dimsToString(t.dims) : std::string("of unknown rank"));
        for (int64_t d : t.dims)
            if (d == 0)
                return makeStatus(StatusCode::kUnsupported, "oneDNN: input {} is empty {}", i,
                                  dimsToString(t.dims));
        if (t.dims.size() > DNNL_MAX_NDIMS)
            return makeStatus(StatusCode::kUnsupported, "oneDNN: input {} has rank {} > {}", i,
                              t.dims.size(), DNNL_MAX_NDIMS);
    }
    return Status::ok();
}

Status buildError(const KernelContext& ctx, std::string_view primitive, const dnnl::error& e) {
    return makeStatus(StatusCode::kUnsupported, "oneDNN {} for {} ({}): {}", primitive, ctx.where(),
                      shapesToString(ctx.inputs), e.what());
}

DnnlKernel::DnnlKernel(std::string primitive, std::vector<Dims> expected)
    : m_primitive(std::move(primitive)), m_expected(std::move(expected)) {}

Status DnnlKernel::run(std::span<const HostTensor* const> inputs,
                       std::span<HostTensor* const> outputs) {
    // Plans are compiled for static shapes; a mismatch here is a bug upstream, not bad input,
    // but it must not turn into an out-of-bounds read inside oneDNN.
    for (std::size_t i = 0; i < m_expected.size() && i < inputs.size(); ++i) {
        if (!inputs[i]) continue;
        const ir::DType want = i < m_types.size() ? m_types[i] : ir::DType::kFloat;
        if (inputs[i]->dtype() != want || inputs[i]->dims() != m_expected[i])
            return makeStatus(StatusCode::kInternal,
                              "oneDNN {} compiled for input {} {}{}, got {}{}", m_primitive, i,
                              ir::dtypeName(want), dimsToString(m_expected[i]),
                              ir::dtypeName(inputs[i]->dtype()),
                              dimsToString(inputs[i]->dims()));
    }
    try {
        execute(inputs, outputs);
    } catch (const dnnl::error& e) {
        std::vector<std::string> shapes;
        for (const HostTensor* t : inputs) shapes.push_back(t ? dimsToString(t->dims()) : "-");
        return makeStatus(StatusCode::kInternal, "oneDNN {} on {} failed: {}", m_primitive,
                          fmt::join(shapes, " x "), e.what());
    }
    return Status::ok();
}

namespace {
std::vector<int64_t> intsOr(const ir::Node& node, std::string_view name, std::size_t n,
                            int64_t fallback) {
    std::vector<int64_t> v = node.attrInts(name);
    if (v.empty()) v.assign(n, fallback);
    return v;
}
}  // namespace

int64_t dnnlPadEnd(int64_t in, int64_t padBegin, int64_t kernel, int64_t stride, int64_t dilation,
                   int64_t out) {
    const int64_t extent = (kernel - 1) * dilation + 1;
    return (out - 1) * stride + extent - in - padBegin;
}

Expected<Window> resolveWindow(const KernelContext& ctx, const Dims& in, const Dims& kernel,
                               bool ceilMode) {
    const ir::Node& node = ctx.node;
    const std::size_t r = in.size();
    Window w;
    w.kernel = kernel;
    w.strides = intsOr(node, "strides", r, 1);
    w.dilations = intsOr(node, "dilations", r, 1);
    std::vector<int64_t> pads = intsOr(node, "pads", 2 * r, 0);
    if (w.kernel.size() != r || w.strides.size() != r || w.dilations.size() != r ||
        pads.size() != 2 * r)
        return error(StatusCode::kBadInput,
                     "{}: kernel_shape/strides/dilations/pads do not match {} spatial dims",
                     ctx.where(), r);
    const std::string autoPad = node.attrString("auto_pad", "NOTSET");
    w.padBegin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(r));
    w.padEnd.assign(pads.begin() + static_cast<std::ptrdiff_t>(r), pads.end());
    w.outSpatial.resize(r);
    for (std::size_t i = 0; i < r; ++i) {
        const int64_t s = w.strides[i], d = w.dilations[i], k = w.kernel[i];
        if (s < 1 || d < 1 || k < 1 || w.padBegin[i] < 0 || w.padEnd[i] < 0)
            return error(StatusCode::kBadInput, "{}: bad window attributes", ctx.where());
        const int64_t extent = (k - 1) * d + 1;
        if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
            const int64_t out = (in[i] + s - 1) / s;
            const int64_t total = std::max<int64_t>(0, (out - 1) * s + extent - in[i]);
            w.padBegin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
            w.padEnd[i] = total - w.padBegin[i];
            w.outSpatial[i] = out;
            continue;
        }
        if (autoPad == "VALID")
            w.padBegin[i] = w.padEnd[i] = 0;
        else if (autoPad != "NOTSET" && !autoPad.empty())
            return error(StatusCode::kBadInput, "{}: unknown auto_pad '{}'", ctx.where(), autoPad);
        const int64_t span = in[i] + w.padBegin[i] + w.padEnd[i] - extent;
        if (span < 0)
            return error(StatusCode::kBadInput, "{}: window {} larger than padded input {}",
                         ctx.where(), extent, in[i] + w.padBegin[i] + w.padEnd[i]);
        int64_t out = (ceilMode ? (span + s - 1) / s : span / s) + 1;
        // ONNX (like PyTorch): with ceil_mode a window starting in the end padding is dropped.
        if (ceilMode && (out - 1) * s >= in[i] + w.padBegin[i]) --out;
        w.outSpatial[i] = out;
    }
    return w;
}

}  // namespace wh::engine::dnnlk
