// LSTM and GRU as oneDNN RNN primitives (inference): float32, sequence-major (layout 0), the
// default activations, no clip, no peepholes, no input_forget, constant W/R/B and, if given,
// sequence lengths all equal to the sequence. Anything else runs on the reference kernel.
//
// ONNX → oneDNN: W [D, G·H, I] becomes ldigo [1, D, I, G, H] with the gates reordered (LSTM:
// ONNX i, o, f, c → oneDNN i, f, c, o; GRU: z, r, h → u, r, c, the same), R alike; the bias is
// Wb + Rb per gate (linear_before_reset GRU: oneDNN's lbr_gru keeps Rb of the candidate apart
// as a fourth gate). Bidirectional runs as bidirectional_concat, whose [T, N, 2H] output is
// copied to ONNX's Y [T, D, N, H]; initial and final states [D, N, H] are oneDNN's ldnc.

#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_map>

#include <omp.h>

#include "core/engine/dnnl/dnnl_common.h"

namespace wh::engine::dnnlk {

namespace {

using Tag = dnnl::memory::format_tag;
using DT = dnnl::memory::data_type;

enum class Cell { kLstm, kGru, kLbrGru };

struct RnnShape {
    Cell cell = Cell::kLstm;
    int64_t T = 0, N = 0, I = 0, H = 0, D = 1;
    int G = 4;  ///< ONNX gates (4 LSTM, 3 GRU)
    dnnl::rnn_direction direction = dnnl::rnn_direction::unidirectional_left2right;
    bool hasH0 = false, hasC0 = false;
};

// ONNX gate index of oneDNN gate g.
int onnxGate(Cell cell, int g) {
    static constexpr int kLstm[4] = {0, 2, 3, 1};  // i, f, c, o ← i, o, f, c
    return cell == Cell::kLstm ? kLstm[g] : g;
}

// W or R [D, G·H, K] → ldigo [1, D, K, G, H].
HostTensor toLdigo(const HostTensor& w, const RnnShape& s, int64_t K) {
    HostTensor out(ir::DType::kFloat, {1, s.D, K, s.G, s.H});
    const float* src = w.data<float>();
    float* dst = out.data<float>();
    for (int64_t d = 0; d < s.D; ++d)
        for (int64_t k = 0; k < K; ++k)
            for (int g = 0; g < s.G; ++g)
                for (int64_t o = 0; o < s.H; ++o)
                    dst[(((d * K) + k) * s.G + g) * s.H + o] =
                        src[(d * s.G * s.H + onnxGate(s.cell, g) * s.H + o) * K + k];
    return out;
}

// B [D, 2·G·H] (Wb then Rb), or none → ldgo [1, D, G (+1 for lbr_gru), H].
HostTensor toBias(const HostTensor* b, const RnnShape& s) {
    const int gates = s.cell == Cell::kLbrGru ? 4 : s.G;
    HostTensor out(ir::DType::kFloat, {1, s.D, gates, s.H});
    float* dst = out.data<float>();
    std::fill(dst, dst + out.numElements(), 0.0f);
    if (!b) return out;
    const float* src = b->data<float>();
    const int64_t GH = s.G * s.H;
    for (int64_t d = 0; d < s.D; ++d) {
        const float* wb = src + d * 2 * GH;
        const float* rb = wb + GH;
        for (int g = 0; g < gates; ++g)
            for (int64_t o = 0; o < s.H; ++o) {
                float v;
                if (s.cell == Cell::kLbrGru && g == 2)
                    v = wb[2 * s.H + o];  // the candidate's input bias
                else if (s.cell == Cell::kLbrGru && g == 3)
                    v = rb[2 * s.H + o];  // its recurrent bias, applied inside r ⊙ (·)
                else
                    v = wb[onnxGate(s.cell, g) * s.H + o] + rb[onnxGate(s.cell, g) * s.H + o];
                dst[(d * gates + g) * s.H + o] = v;
            }
    }
    return out;
}

/// Batch × gates × hidden below which a sequence runs on one thread.
constexpr int64_t kSerialBelow = 8192;

class RnnKernel final : public DnnlKernel {
public:
    RnnKernel(const RnnShape& s, std::vector<Dims> expected, const HostTensor& W,
              const HostTensor& R, const HostTensor* B)
        : DnnlKernel(s.cell == Cell::kLstm ? "lstm" : "gru", std::move(expected)), m_s(s) {
        const auto md = [](Dims d, Tag tag) { return dnnl::memory::desc(toDnnl(d), DT::f32, tag); };
        const int64_t outC = s.direction == dnnl::rnn_direction::bidirectional_concat ? 2 * s.H : s.H;
        const auto src = md({s.T, s.N, s.I}, Tag::tnc);
        const auto state = md({1, s.D, s.N, s.H}, Tag::ldnc);
        const auto none = dnnl::memory::desc();
        const auto wAny = dnnl::memory::desc(toDnnl({1, s.D, s.I, s.G, s.H}), DT::f32, Tag::any);
        const auto rAny = dnnl::memory::desc(toDnnl({1, s.D, s.H, s.G, s.H}), DT::f32, Tag::any);
        const HostTensor bias = toBias(B, s);
        const auto biasMd = md(bias.dims(), Tag::ldgo);
        const auto dst = md({s.T, s.N, outC}, Tag::tnc);
        const auto prop = dnnl::prop_kind::forward_inference;
        dnnl::memory::desc wDesc, rDesc;
        // oneDNN fixes a primitive's thread count when it is created: create small ones serial.
        const int threads = omp_get_max_threads();
        m_serial = threads > 1 && s.N * s.G * s.H < kSerialBelow;
        if (m_serial) omp_set_num_threads(1);
        if (s.cell == Cell::kLstm) {
            dnnl::lstm_forward::desc desc(prop, s.direction, src, s.hasH0 ? state : none,
                                          s.hasC0 ? state : none, wAny, rAny, biasMd, dst, state,
                                          state);
            dnnl::lstm_forward::primitive_desc pd(desc, cpuEngine());
            wDesc = pd.weights_layer_desc();
            rDesc = pd.weights_iter_desc();
            m_primitive = dnnl::lstm_forward(pd);
        } else {
            // GRU and LBR GRU take the same descriptor arguments.
            auto build = [&](auto primitive) {
                using P = decltype(primitive);
                typename P::desc desc(prop, s.direction, src, s.hasH0 ? state : none, wAny, rAny,
                                      biasMd, dst, state);
                typename P::primitive_desc pd(desc, cpuEngine());
                wDesc = pd.weights_layer_desc();
                rDesc = pd.weights_iter_desc();
                m_primitive = P(pd);
            };
            if (s.cell == Cell::kGru)
                build(dnnl::gru_forward{});
            else
                build(dnnl::lbr_gru_forward{});
        }
        if (m_serial) omp_set_num_threads(threads);
        const HostTensor w = toLdigo(W, s, s.I), r = toLdigo(R, s, s.H);
        m_weights = reorderConstant(w, md(w.dims(), Tag::ldigo), wDesc);
        m_recurrent = reorderConstant(r, md(r.dims(), Tag::ldigo), rDesc);
        m_bias = dnnl::memory(biasMd, cpuEngine());
        std::memcpy(m_bias.get_data_handle(), bias.raw(), bias.byteSize());
        m_src = unboundMemory(src);
        m_h0 = unboundMemory(state);
        m_c0 = unboundMemory(state);
        m_dst = unboundMemory(dst);
        m_hN = unboundMemory(state);
        m_cN = unboundMemory(state);
        m_layer.ensure(ir::DType::kFloat, {s.T, s.N, outC});
        m_lastH.ensure(ir::DType::kFloat, {s.D, s.N, s.H});
        m_lastC.ensure(ir::DType::kFloat, {s.D, s.N, s.H});
    }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const RnnShape& s = m_s;
        auto outAt = [&](std::size_t i) { return i < out.size() ? out[i] : nullptr; };
        HostTensor* Y = outAt(0);
        HostTensor* Yh = outAt(1);
        HostTensor* Yc = s.cell == Cell::kLstm ? outAt(2) : nullptr;
        const Dims stateDims{s.D, s.N, s.H};
        // Final states go straight to the outputs when asked for.
        HostTensor& hN = Yh ? *Yh : m_lastH;
        HostTensor& cN = Yc ? *Yc : m_lastC;
        hN.ensure(ir::DType::kFloat, stateDims);
        cN.ensure(ir::DType::kFloat, stateDims);
        // One direction: oneDNN's [T, N, H] is ONNX's [T, 1, N, H].
        HostTensor& layer = Y && s.D == 1 ? *Y : m_layer;
        if (Y && s.D == 1) Y->ensure(ir::DType::kFloat, {s.T, 1, s.N, s.H});
        setHandle(m_src, *in[0]);
        m_dst.set_data_handle(layer.raw());
        m_hN.set_data_handle(hN.raw());
        m_cN.set_data_handle(cN.raw());
        std::unordered_map<int, dnnl::memory> args = {
            {DNNL_ARG_SRC_LAYER, m_src},         {DNNL_ARG_WEIGHTS_LAYER, m_weights},
            {DNNL_ARG_WEIGHTS_ITER, m_recurrent}, {DNNL_ARG_BIAS, m_bias},
            {DNNL_ARG_DST_LAYER, m_dst},         {DNNL_ARG_DST_ITER, m_hN}};
        if (s.hasH0) {
            setHandle(m_h0, *in[5]);
            args[DNNL_ARG_SRC_ITER] = m_h0;
        }
        if (s.cell == Cell::kLstm) {
            args[DNNL_ARG_DST_ITER_C] = m_cN;
            if (s.hasC0) {
                setHandle(m_c0, *in[6]);
                args[DNNL_ARG_SRC_ITER_C] = m_c0;
            }
        }
        // A small batch makes each time step's GEMMs tiny: synchronising threads 2·T times costs
        // more than they save (LSTM at batch 1: 0.65 ms on 2 threads, 0.30 ms on 1).
        const int threads = omp_get_max_threads();
        if (m_serial) omp_set_num_threads(1);
        m_primitive.execute(cpuStream(), args);
        cpuStream().wait();
        if (m_serial) omp_set_num_threads(threads);
        if (!Y || s.D == 1) return;
        // [T, N, D·H] → [T, D, N, H].
        Y->ensure(ir::DType::kFloat, {s.T, s.D, s.N, s.H});
        const float* src = m_layer.data<float>();
        float* dst = Y->data<float>();
        for (int64_t t = 0; t < s.T; ++t)
            for (int64_t d = 0; d < s.D; ++d)
                for (int64_t n = 0; n < s.N; ++n)
                    std::memcpy(dst + ((t * s.D + d) * s.N + n) * s.H,
                                src + (t * s.N + n) * s.D * s.H + d * s.H,
                                static_cast<std::size_t>(s.H) * sizeof(float));
    }

private:
    RnnShape m_s;
    bool m_serial = false;
    dnnl::primitive m_primitive;
    dnnl::memory m_weights, m_recurrent, m_bias;
    dnnl::memory m_src, m_h0, m_c0, m_dst, m_hN, m_cN;
    HostTensor m_layer, m_lastH, m_lastC;
};

tl::unexpected<Status> unsupported(const KernelContext& ctx, std::string_view why) {
    return tl::unexpected(makeStatus(StatusCode::kUnsupported, "oneDNN {}: {}", ctx.node.opType, why));
}

// The default activations of `dirs` directions, spelt any case.
bool defaultActivations(const ir::Node& node, bool lstm, int64_t dirs) {
    const ir::Attribute* a = node.attribute("activations");
    if (!a || a->strings.empty()) return true;
    std::vector<std::string> want;
    for (int64_t d = 0; d < dirs; ++d) {
        want.insert(want.end(), {"sigmoid", "tanh"});
        if (lstm) want.push_back("tanh");
    }
    if (a->strings.size() != want.size()) return false;
    for (std::size_t i = 0; i < want.size(); ++i) {
        std::string s = a->strings[i];
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
        if (s != want[i]) return false;
    }
    return true;
}

Expected<KernelBuild> buildRnn(const KernelContext& ctx, bool lstm) {
    WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 1, 1));
    const ir::Node& n = ctx.node;
    if (n.attrInt("layout", 0) != 0) return unsupported(ctx, "layout 1 (batch major)");
    if (n.attrFloat("clip", 0.0f) != 0.0f) return unsupported(ctx, "clip");
    if (lstm && n.attrInt("input_forget", 0) != 0) return unsupported(ctx, "input_forget");
    if (lstm && ctx.hasInput(7)) return unsupported(ctx, "peepholes");
    const std::string dir = n.attrString("direction", "forward");
    RnnShape s;
    s.cell = lstm ? Cell::kLstm : n.attrInt("linear_before_reset", 0) ? Cell::kLbrGru : Cell::kGru;
    s.G = lstm ? 4 : 3;
    if (dir == "forward")
        s.direction = dnnl::rnn_direction::unidirectional_left2right;
    else if (dir == "reverse")
        s.direction = dnnl::rnn_direction::unidirectional_right2left;
    else if (dir == "bidirectional")
        s.direction = dnnl::rnn_direction::bidirectional_concat, s.D = 2;
    else
        return unsupported(ctx, "direction " + dir);
    if (!defaultActivations(n, lstm, s.D)) return unsupported(ctx, "activations");
    const Dims& x = ctx.inputs[0].dims;
    if (x.size() != 3) return unsupported(ctx, "X of rank " + std::to_string(x.size()));
    s.T = x[0], s.N = x[1], s.I = x[2];
    s.H = n.attrInt("hidden_size", 0);
    auto constantFloat = [&](int i) -> const HostTensor* {
        if (!ctx.hasInput(i)) return nullptr;
        const TensorInfo& t = ctx.inputs[static_cast<std::size_t>(i)];
        return t.constant && t.constant->dtype() == ir::DType::kFloat ? t.constant.get() : nullptr;
    };
    const HostTensor* W = constantFloat(1);
    const HostTensor* R = constantFloat(2);
    const HostTensor* B = constantFloat(3);
    if (!W || !R || (ctx.hasInput(3) && !B)) return unsupported(ctx, "W, R or B not constant");
    if (s.H <= 0 && R->rank() == 3) s.H = R->dim(2);
    if (W->dims() != Dims{s.D, s.G * s.H, s.I} || R->dims() != Dims{s.D, s.G * s.H, s.H} ||
        (B && B->dims() != Dims{s.D, 2 * s.G * s.H}))
        return unsupported(ctx, "weight shapes");  // the reference names the mismatch
    std::vector<Dims> expected = {x, W->dims(), R->dims()};
    expected.push_back(B ? B->dims() : Dims{});  // X, W, R, B checked at run time
    if (ctx.hasInput(4)) {
        const TensorInfo& lens = ctx.inputs[4];
        if (!lens.constant) return unsupported(ctx, "sequence_lens known only at run time");
        for (int64_t l : lens.constant->toInt64s())
            if (l != s.T) return unsupported(ctx, "sequence_lens shorter than the sequence");
    }
    const Dims stateDims{s.D, s.N, s.H};
    for (int i : {5, 6}) {
        if (!ctx.hasInput(i)) continue;
        if (i == 6 && !lstm) continue;
        const TensorInfo& st = ctx.inputs[static_cast<std::size_t>(i)];
        if (st.dtype != ir::DType::kFloat || st.dims != stateDims)
            return unsupported(ctx, "initial state shape");
        (i == 5 ? s.hasH0 : s.hasC0) = true;
    }
    KernelBuild build;
    try {
        build.kernel = std::make_unique<RnnKernel>(s, std::move(expected), *W, *R, B);
    } catch (const dnnl::error& e) {
        return tl::unexpected(buildError(ctx, lstm ? "lstm" : "gru", e));
    }
    const int outputs = std::min(n.numOutputs(), lstm ? 3 : 2);
    for (int i = 0; i < std::max(outputs, 1); ++i)
        build.outputs.push_back(i == 0 ? floatInfo({s.T, s.D, s.N, s.H}) : floatInfo(stateDims));
    return build;
}

}  // namespace

void registerRnn(KernelRegistry& registry) {
    registry.add("", "LSTM", 7, kMaxOpset, Backend::kDnnl,
                 [](const KernelContext& ctx) { return buildRnn(ctx, true); });
    registry.add("", "GRU", 7, kMaxOpset, Backend::kDnnl,
                 [](const KernelContext& ctx) { return buildRnn(ctx, false); });
}

}  // namespace wh::engine::dnnlk
