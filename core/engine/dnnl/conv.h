#pragma once
/// Convolution through oneDNN. The primitive is described in one place (ConvSpec →
/// createConvPrimitive) so the int8 path (u8/s8 src, s8 weights, s32 bias, output scales) and
/// fused post-ops (Conv+Relu, Conv+Add) only add fields to the spec, not new code paths.
/// Internal to core/engine/dnnl.

#include <vector>

#include "core/engine/dnnl/dnnl_common.h"

namespace wh::engine::dnnlk {

/// A step applied to the convolution's result inside the primitive (fusion), in order.
struct PostOp {
    enum class Kind {
        kEltwise,  ///< dst = eltwise(dst)
        kSum,      ///< dst = dst + what dst held before the primitive ran (a residual Add)
    };
    Kind kind = Kind::kEltwise;
    Eltwise eltwise;  ///< kEltwise only
};

/// Everything that defines a forward convolution primitive.
struct ConvSpec {
    Dims src;      ///< [N, C, spatial...]
    Dims weights;  ///< [O, C/G, k...]; createConvPrimitive adds the group dim when groups > 1
    Dims dst;      ///< [N, O, out...]
    bool hasBias = false;
    int64_t groups = 1;
    Dims strides, dilations, padBegin, padEnd;  ///< ONNX convention (dilation 1 = dense)
    dnnl::memory::data_type srcType = dnnl::memory::data_type::f32;
    dnnl::memory::data_type weightsType = dnnl::memory::data_type::f32;
    dnnl::memory::data_type biasType = dnnl::memory::data_type::f32;
    dnnl::memory::data_type dstType = dnnl::memory::data_type::f32;
    /// Output scales (int8: src scale × weight scale [/ dst scale]); empty = none.
    std::vector<float> outputScales;
    int outputScalesMask = 0;
    /// int8: per-tensor zero points of src and dst, given at run time
    /// (DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC / DST, one s32 each).
    bool srcZeroPoint = false, dstZeroPoint = false;
    std::vector<PostOp> postOps;
    /// Layouts of src and dst; `any` lets oneDNN choose.
    dnnl::memory::format_tag srcTag = dnnl::memory::format_tag::any;
    dnnl::memory::format_tag dstTag = dnnl::memory::format_tag::any;
    /// convolution_winograd where it measured faster (buildConv decides); else direct.
    dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct;
};

/// The primitive descriptor for `spec`, with layouts left to oneDNN (format_tag::any) for
/// src, weights and dst. Throws dnnl::error when oneDNN has no implementation.
dnnl::convolution_forward::primitive_desc createConvPrimitive(const ConvSpec& spec);
/// The weights as a user holds them: plain OIHW, or GOIHW over the same bytes when grouped.
dnnl::memory::desc plainWeightsDesc(const ConvSpec& spec);

}  // namespace wh::engine::dnnlk
