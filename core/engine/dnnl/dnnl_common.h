#pragma once
/// Shared plumbing of the oneDNN kernels: the CPU engine and stream, descriptors over plain
/// (row-major) HostTensors, and the base class that turns dnnl::error into a Status at the
/// kernel edge. Internal to core/engine/dnnl: oneDNN types never leave this folder.

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/engine/kernel.h"
#include "core/engine/kernel_registry.h"

namespace wh::engine::dnnlk {

/// The process-wide CPU engine. Created on first use; thread-safe.
dnnl::engine& cpuEngine();
/// A CPU stream for the calling thread. oneDNN streams are not meant to be shared between
/// threads that execute at the same time, and plans may run on several job threads at once, so
/// each thread gets its own (a CPU stream is a few bytes; creating it is cheap).
dnnl::stream& cpuStream();

/// oneDNN dims of a shape; a scalar (rank 0) becomes {1}.
dnnl::memory::dims toDnnl(const Dims& dims);
/// A descriptor for a dense row-major tensor of `dims` (NCHW for rank 4, OIHW for weights).
dnnl::memory::desc plainDesc(const Dims& dims,
                             dnnl::memory::data_type type = dnnl::memory::data_type::f32);
/// Same with explicit element strides (transposed Gemm operands).
dnnl::memory::desc stridedDesc(const Dims& dims, const Dims& strides,
                               dnnl::memory::data_type type = dnnl::memory::data_type::f32);
/// A memory object without storage; the kernel points it at a HostTensor with setHandle().
dnnl::memory unboundMemory(const dnnl::memory::desc& desc);
/// Points `mem` at a tensor's storage. oneDNN never writes its inputs; the cast is for its API.
inline void setHandle(dnnl::memory& mem, const HostTensor& t) {
    mem.set_data_handle(const_cast<void*>(t.raw()));
}

/// Reorders the constant `plain` tensor (described by `from`) into a new library-owned memory
/// of layout `to`, once, at compile time. `scale` != 1 multiplies on the way (Gemm alpha).
dnnl::memory reorderConstant(const HostTensor& plain, const dnnl::memory::desc& from,
                             const dnnl::memory::desc& to, float scale = 1.0f);

/// What a kernel tells the plan about a float32 output of static shape `dims`.
inline TensorInfo floatInfo(Dims dims) {
    TensorInfo t;
    t.dtype = ir::DType::kFloat;
    t.dims = std::move(dims);
    return t;
}

/// A oneDNN memory format other than plain row-major (e.g. nChw16c), carried between oneDNN
/// kernels in TensorInfo::layout so that consecutive primitives skip the reorders.
class DnnlLayout final : public Layout {
public:
    DnnlLayout(Dims dims, dnnl::memory::desc desc);
    const dnnl::memory::desc& desc() const { return m_desc; }
    std::string name() const override;
    std::size_t byteSize() const override { return m_desc.get_size(); }
    std::unique_ptr<Kernel> makeToPlain() const override;

private:
    Dims m_dims;
    dnnl::memory::desc m_desc;
};

/// oneDNN's data type for uint8, int8, int32; f32 for anything else.
dnnl::memory::data_type dnnlType(ir::DType type);
/// The inverse of dnnlType (f32 for types it does not map).
ir::DType dtypeOf(dnnl::memory::data_type type);

/// The descriptor of a tensor as a kernel receives it: its DnnlLayout's, else plain (of its
/// dtype: float32, or the uint8/int8 tensors of the int8 kernels).
/// Call only where the kernel's KernelBuild sets readsLayouts.
dnnl::memory::desc descOf(const TensorInfo& t);
/// True if any input carries a layout that is not a DnnlLayout (then read plain tensors).
bool hasForeignLayout(std::span<const TensorInfo> inputs);
/// floatInfo(dims), with a DnnlLayout when `desc` is not plain row-major.
TensorInfo floatInfo(Dims dims, const dnnl::memory::desc& desc);
/// Shapes `out` to hold `dims` written as `desc` (blocked formats may need padding), of the
/// dtype `desc` holds.
void ensureFor(HostTensor& out, const Dims& dims, const dnnl::memory::desc& desc);

/// True if `desc` is a 4-D tensor of `dims` with 1-byte elements (uint8/int8) in nhwc.
bool isByteNhwc(const dnnl::memory::desc& desc, const Dims& dims);
/// Copies a 4-D tensor of 1-byte elements from plain NCHW to nhwc (`toNhwc`) or back with a plain
/// loop. oneDNN 2.6 runs these reorders with its generic jit:uni kernel at ~85 us for a
/// 16x28x28 uint8 tensor; the loop takes a few.
void transposeBytes(const void* src, void* dst, const Dims& dims, bool toNhwc);

/// "[1,3,224,224] x [64,3,7,7]" for messages.
std::string shapesToString(std::span<const TensorInfo> inputs);

/// kUnsupported unless inputs [0, count) that are present are float32 with a fully known shape
/// without zero-sized dimensions. `optionalFrom`: inputs from this index on may be omitted.
Status requireStaticFloat(const KernelContext& ctx, int count, int optionalFrom);

/// The Status for a dnnl::error thrown while building `primitive` for `ctx` (kUnsupported, so
/// the plan falls back to the reference kernel).
Status buildError(const KernelContext& ctx, std::string_view primitive, const dnnl::error& e);

/// Base of every oneDNN kernel: run() checks the input shapes against those compiled for and
/// calls execute() inside a try block; dnnl::error becomes a kInternal Status naming the
/// primitive and the shapes.
class DnnlKernel : public Kernel {
public:
    /// `primitive` names the oneDNN primitive ("convolution"); `expected` are the input shapes
    /// compiled for, by input index (omitted inputs, null at run time, are not checked).
    DnnlKernel(std::string primitive, std::vector<Dims> expected);

    Status run(std::span<const HostTensor* const> inputs,
               std::span<HostTensor* const> outputs) final;

protected:
    /// The input dtypes compiled for, by input index (default: float32 for every input).
    void setExpectedTypes(std::vector<ir::DType> types) { m_types = std::move(types); }
    /// Runs the primitive(s). Inputs are non-null where the node has them and match the shapes
    /// compiled for.
    virtual void execute(std::span<const HostTensor* const> inputs,
                         std::span<HostTensor* const> outputs) = 0;

private:
    std::string m_primitive;
    std::vector<Dims> m_expected;
    std::vector<ir::DType> m_types;
};

/// Normalised attribute helpers shared by Conv and the pools.
struct Window {
    Dims kernel, strides, dilations, padBegin, padEnd, outSpatial;
};
/// Resolves kernel_shape/strides/dilations/pads/auto_pad (and ceil_mode) of a Conv or pool node
/// for input spatial dims `in`. `kernel` may come from the weights (Conv). Fails with kBadInput
/// on inconsistent attributes.
Expected<Window> resolveWindow(const KernelContext& ctx, const Dims& in, const Dims& kernel,
                               bool ceilMode);

/// oneDNN's pad_end for a window, so that its floor formula yields `out`.
int64_t dnnlPadEnd(int64_t in, int64_t padBegin, int64_t kernel, int64_t stride, int64_t dilation,
                   int64_t out);

/// One oneDNN eltwise operation: a standalone primitive or a post-op of another primitive.
struct Eltwise {
    dnnl::algorithm algorithm = dnnl::algorithm::undef;
    float alpha = 0.0f, beta = 0.0f;
};

/// Adds the eltwise post-op `e` to `chain`, the eltwise post-ops taken so far in order;
/// `adjacent`: the chain's last entry is the post-op right before `e`. oneDNN 2.6's jit kernels
/// compute a second eltwise post-op of an algorithm already in the chain with the first one's
/// parameters (Conv -> Clip(0, 6) -> Clip(0, 2.97) gave values up to 6, as if the second clip were
/// not there). So two adjacent clips become one clip to the intersected bounds (the last entry is
/// updated), a repeat of anything else is refused, and so is a merge whose bounds do not meet.
/// Returns false when refused: take no more followers (the plan runs them itself).
bool addEltwisePostOp(std::vector<Eltwise>& chain, bool adjacent, const Eltwise& e);

/// The eltwise operation computing an ONNX activation node with input infos `inputs`: Relu,
/// LeakyRelu, Sigmoid, Tanh, HardSwish, Clip with constant bounds. kUnsupported (naming why)
/// for any other node. The one mapping shared by the eltwise kernels and fused post-ops.
Expected<Eltwise> activationOf(const ir::Node& node, int64_t opset,
                               std::span<const TensorInfo> inputs);

// Registration of the kernel groups (register.cpp calls them all).
void registerConv(KernelRegistry& registry);
void registerMatMul(KernelRegistry& registry);
void registerNormPool(KernelRegistry& registry);
void registerElementwise(KernelRegistry& registry);
void registerSoftmax(KernelRegistry& registry);
void registerRnn(KernelRegistry& registry);
void registerTranspose(KernelRegistry& registry);
void registerQConv(KernelRegistry& registry);
void registerQMatMul(KernelRegistry& registry);
void registerQAdd(KernelRegistry& registry);
void registerDequantize(KernelRegistry& registry);

/// Highest opset our registrations claim (ops whose semantics changed later re-check there).
inline constexpr int kMaxOpset = 99;

}  // namespace wh::engine::dnnlk
