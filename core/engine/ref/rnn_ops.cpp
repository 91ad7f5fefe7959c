// Reference LSTM and GRU (ONNX opsets 7 / 14): forward, reverse and bidirectional, per-sequence
// lengths, initial states, peepholes (LSTM), linear_before_reset (GRU), batch-major layout
// (opset 14), clip, and the activations Sigmoid, Tanh, Relu, HardSigmoid, LeakyRelu, Affine,
// ThresholdedRelu, ScaledTanh, Elu, Softsign, Softplus (with their alpha / beta). Computed in
// double, stored as the input's type (float or double).
//
// Notation of the ONNX spec, per direction d and time step t (Wx: W[d] · x_t, Rh: R[d] · h):
//   LSTM (gates i, o, f, c):  i = f(Wx_i + Rh_i + P_i ⊙ C + Wb_i + Rb_i), likewise f with P_f;
//       c̃ = g(Wx_c + Rh_c + Wb_c + Rb_c); C' = f ⊙ C + i ⊙ c̃ (input_forget: f = 1 − i);
//       o = f(Wx_o + Rh_o + P_o ⊙ C' + Wb_o + Rb_o); H' = o ⊙ h(C')
//   GRU (gates z, r, h):  z = f(Wx_z + Rh_z + Wb_z + Rb_z), r likewise;
//       h̃ = g(Wx_h + (r ⊙ H) R_hᵀ + Rb_h + Wb_h)   (linear_before_reset = 0)
//       h̃ = g(Wx_h + r ⊙ (H R_hᵀ + Rb_h) + Wb_h)   (linear_before_reset = 1)
//       H' = (1 − z) ⊙ h̃ + z ⊙ H
// A batch entry past its sequence length keeps its state and writes zeros to Y.

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

namespace {

using D = ir::DType;
using Ins = std::span<const HostTensor* const>;
using Outs = std::span<HostTensor* const>;
constexpr Backend kRef = Backend::kReference;
using Activation = std::function<double(double)>;

Expected<Activation> activationNamed(const std::string& name, double alpha, double beta,
                                     bool hasAlpha, bool hasBeta) {
    auto a = [&](double fallback) { return hasAlpha ? alpha : fallback; };
    auto b = [&](double fallback) { return hasBeta ? beta : fallback; };
    if (name == "Sigmoid") return Activation([](double x) { return 1.0 / (1.0 + std::exp(-x)); });
    if (name == "Tanh") return Activation([](double x) { return std::tanh(x); });
    if (name == "Relu") return Activation([](double x) { return std::max(x, 0.0); });
    if (name == "HardSigmoid") {
        const double al = a(0.2), be = b(0.5);
        return Activation([=](double x) { return std::clamp(al * x + be, 0.0, 1.0); });
    }
    if (name == "LeakyRelu") {
        const double al = a(0.01);
        return Activation([=](double x) { return x >= 0 ? x : al * x; });
    }
    if (name == "Affine") {
        const double al = a(1.0), be = b(0.0);
        return Activation([=](double x) { return al * x + be; });
    }
    if (name == "ThresholdedRelu") {
        const double al = a(1.0);
        return Activation([=](double x) { return x > al ? x : 0.0; });
    }
    if (name == "ScaledTanh") {
        const double al = a(1.0), be = b(1.0);
        return Activation([=](double x) { return al * std::tanh(be * x); });
    }
    if (name == "Elu") {
        const double al = a(1.0);
        return Activation([=](double x) { return x >= 0 ? x : al * (std::exp(x) - 1.0); });
    }
    if (name == "Softsign") return Activation([](double x) { return x / (1.0 + std::fabs(x)); });
    if (name == "Softplus") return Activation([](double x) { return std::log1p(std::exp(x)); });
    return error(StatusCode::kUnsupported, "activation '{}'", name);
}

struct RnnAttrs {
    bool lstm = true;
    int64_t hidden = 0;
    int dirs = 1;
    bool reverseOnly = false;
    bool batchMajor = false;  // layout = 1
    double clip = 0;          // 0: none
    bool inputForget = false;
    bool linearBeforeReset = false;
    std::vector<Activation> acts;  // per direction: f, g[, h]
};

Expected<RnnAttrs> readAttrs(const KernelContext& ctx, bool lstm) {
    const ir::Node& n = ctx.node;
    RnnAttrs a;
    a.lstm = lstm;
    a.hidden = n.attrInt("hidden_size", 0);
    if (a.hidden <= 0)
        return error(StatusCode::kBadInput, "{}: hidden_size {} (must be given and > 0)",
                     ctx.where(), a.hidden);
    const std::string dir = n.attrString("direction", "forward");
    if (dir == "bidirectional") {
        a.dirs = 2;
    } else if (dir == "reverse") {
        a.reverseOnly = true;
    } else if (dir != "forward") {
        return error(StatusCode::kBadInput, "{}: direction '{}'", ctx.where(), dir);
    }
    a.batchMajor = n.attrInt("layout", 0) == 1;
    a.clip = n.attrFloat("clip", 0.0f);
    if (a.clip < 0) return error(StatusCode::kBadInput, "{}: clip {} < 0", ctx.where(), a.clip);
    a.inputForget = lstm && n.attrInt("input_forget", 0) != 0;
    a.linearBeforeReset = !lstm && n.attrInt("linear_before_reset", 0) != 0;
    const std::size_t perDir = lstm ? 3 : 2;
    std::vector<std::string> names;
    if (const ir::Attribute* acts = n.attribute("activations")) names = acts->strings;
    if (names.empty())
        for (int d = 0; d < a.dirs; ++d) {
            names.push_back("Sigmoid");
            names.push_back("Tanh");
            if (lstm) names.push_back("Tanh");
        }
    if (names.size() != perDir * static_cast<std::size_t>(a.dirs))
        return error(StatusCode::kBadInput, "{}: {} activations, {} expected", ctx.where(),
                     names.size(), perDir * static_cast<std::size_t>(a.dirs));
    const ir::Attribute* alphaAttr = n.attribute("activation_alpha");
    const ir::Attribute* betaAttr = n.attribute("activation_beta");
    const std::vector<float> alphas = alphaAttr ? alphaAttr->floats : std::vector<float>{};
    const std::vector<float> betas = betaAttr ? betaAttr->floats : std::vector<float>{};
    for (std::size_t i = 0; i < names.size(); ++i) {
        auto act = activationNamed(names[i], i < alphas.size() ? alphas[i] : 0.0,
                                   i < betas.size() ? betas[i] : 0.0, i < alphas.size(),
                                   i < betas.size());
        if (!act) return error(StatusCode::kUnsupported, "{}: {}", ctx.where(), act.error().message());
        a.acts.push_back(std::move(*act));
    }
    return a;
}

// Values of an optional input as doubles, or empty.
std::vector<double> valuesOf(const HostTensor* t) {
    if (!t || t->empty()) return {};
    std::vector<double> v(static_cast<std::size_t>(t->numElements()));
    dispatch<TypeSet::kFloat>(t->dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T* p = t->data<T>();
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(p[i]);
        return 0;
    });
    return v;
}

Status checkDims(const HostTensor* t, const Dims& want, const char* what) {
    if (t && !t->empty() && t->dims() != want)
        return makeStatus(StatusCode::kBadInput, "{} is {}, expected {}", what,
                          dimsToString(t->dims()), dimsToString(want));
    return Status::ok();
}

template <class T>
Status runRnn(const RnnAttrs& a, Ins in, Outs outs) {
    const HostTensor& xt = *in[0];
    if (xt.rank() != 3)
        return makeStatus(StatusCode::kBadInput, "X is {}, not rank 3", dimsToString(xt.dims()));
    const int64_t seq = a.batchMajor ? xt.dim(1) : xt.dim(0);
    const int64_t batch = a.batchMajor ? xt.dim(0) : xt.dim(1);
    const int64_t inSize = xt.dim(2);
    const int64_t H = a.hidden, G = a.lstm ? 4 : 3, dirs = a.dirs;
    auto input = [&](std::size_t i) -> const HostTensor* {
        return i < in.size() && in[i] && !in[i]->empty() ? in[i] : nullptr;
    };
    WH_RETURN_STATUS_IF_ERROR(checkDims(input(1), {dirs, G * H, inSize}, "W"));
    WH_RETURN_STATUS_IF_ERROR(checkDims(input(2), {dirs, G * H, H}, "R"));
    WH_RETURN_STATUS_IF_ERROR(checkDims(input(3), {dirs, 2 * G * H}, "B"));
    const Dims stateDims = a.batchMajor ? Dims{batch, dirs, H} : Dims{dirs, batch, H};
    WH_RETURN_STATUS_IF_ERROR(checkDims(input(5), stateDims, "initial_h"));
    if (a.lstm) {
        WH_RETURN_STATUS_IF_ERROR(checkDims(input(6), stateDims, "initial_c"));
        WH_RETURN_STATUS_IF_ERROR(checkDims(input(7), {dirs, 3 * H}, "P"));
    }
    const std::vector<double> W = valuesOf(input(1)), R = valuesOf(input(2));
    const std::vector<double> B = valuesOf(input(3)), h0 = valuesOf(input(5));
    const std::vector<double> c0 = a.lstm ? valuesOf(input(6)) : std::vector<double>{};
    const std::vector<double> P = a.lstm ? valuesOf(input(7)) : std::vector<double>{};
    std::vector<int64_t> lens(static_cast<std::size_t>(batch), seq);
    if (const HostTensor* sl = input(4)) {
        lens = sl->toInt64s();
        if (static_cast<int64_t>(lens.size()) != batch)
            return makeStatus(StatusCode::kBadInput, "sequence_lens has {} entries, batch is {}",
                              lens.size(), batch);
        for (int64_t l : lens)
            if (l < 0 || l > seq)
                return makeStatus(StatusCode::kBadInput, "sequence length {} not in [0, {}]", l,
                                  seq);
    }
    const T* px = xt.data<T>();
    auto x = [&](int64_t t, int64_t b, int64_t k) {
        return static_cast<double>(a.batchMajor ? px[(b * seq + t) * inSize + k]
                                                : px[(t * batch + b) * inSize + k]);
    };
    auto stateIndex = [&](int64_t d, int64_t b, int64_t j) {
        return a.batchMajor ? (b * dirs + d) * H + j : (d * batch + b) * H + j;
    };
    const Dims yDims = a.batchMajor ? Dims{batch, seq, dirs, H} : Dims{seq, dirs, batch, H};
    HostTensor* Y = outs.size() > 0 ? outs[0] : nullptr;
    HostTensor* Yh = outs.size() > 1 ? outs[1] : nullptr;
    HostTensor* Yc = a.lstm && outs.size() > 2 ? outs[2] : nullptr;
    std::vector<double> y(static_cast<std::size_t>(seq * dirs * batch * H), 0.0);
    std::vector<double> hOut(static_cast<std::size_t>(dirs * batch * H), 0.0), cOut(hOut);
    auto clip = [&](double v) { return a.clip > 0 ? std::clamp(v, -a.clip, a.clip) : v; };

    std::vector<double> gates(static_cast<std::size_t>(G * H));
    for (int64_t d = 0; d < dirs; ++d) {
        const bool reverse = a.reverseOnly || d == 1;
        const std::size_t ai = static_cast<std::size_t>(d) * (a.lstm ? 3 : 2);
        const Activation& f = a.acts[ai];
        const Activation& g = a.acts[ai + 1];
        const Activation& hAct = a.lstm ? a.acts[ai + 2] : a.acts[ai + 1];
        const double* Wd = W.data() + d * G * H * inSize;
        const double* Rd = R.data() + d * G * H * H;
        const double* Wb = B.empty() ? nullptr : B.data() + d * 2 * G * H;
        const double* Rb = Wb ? Wb + G * H : nullptr;
        const double* Pd = P.empty() ? nullptr : P.data() + d * 3 * H;
        for (int64_t b = 0; b < batch; ++b) {
            std::vector<double> h(static_cast<std::size_t>(H)), c(static_cast<std::size_t>(H));
            for (int64_t j = 0; j < H; ++j) {
                const auto s = static_cast<std::size_t>(stateIndex(d, b, j));
                h[static_cast<std::size_t>(j)] = h0.empty() ? 0.0 : h0[s];
                c[static_cast<std::size_t>(j)] = c0.empty() ? 0.0 : c0[s];
            }
            const int64_t len = lens[static_cast<std::size_t>(b)];
            for (int64_t step = 0; step < len; ++step) {
                const int64_t t = reverse ? len - 1 - step : step;
                // gates = W x_t + Wb (+ R h + Rb, except GRU's h gate, done below).
                for (int64_t r = 0; r < G * H; ++r) {
                    double v = Wb ? Wb[r] : 0.0;
                    for (int64_t k = 0; k < inSize; ++k) v += Wd[r * inSize + k] * x(t, b, k);
                    const bool gruCandidate = !a.lstm && r >= 2 * H;
                    if (!gruCandidate) {
                        v += Rb ? Rb[r] : 0.0;
                        for (int64_t k = 0; k < H; ++k)
                            v += Rd[r * H + k] * h[static_cast<std::size_t>(k)];
                    }
                    gates[static_cast<std::size_t>(r)] = v;
                }
                if (a.lstm) {
                    for (int64_t j = 0; j < H; ++j) {
                        const auto ju = static_cast<std::size_t>(j);
                        double gi = gates[ju], go = gates[ju + H], gf = gates[ju + 2 * H],
                               gc = gates[ju + 3 * H];
                        if (Pd) {
                            gi += Pd[j] * c[ju];
                            gf += Pd[2 * H + j] * c[ju];
                        }
                        const double i = f(clip(gi));
                        const double fg = a.inputForget ? 1.0 - i : f(clip(gf));
                        const double cand = g(clip(gc));
                        c[ju] = fg * c[ju] + i * cand;
                        if (Pd) go += Pd[H + j] * c[ju];
                        const double o = f(clip(go));
                        gates[ju] = o * hAct(c[ju]);  // the new h, kept until all j are done
                    }
                    for (int64_t j = 0; j < H; ++j)
                        h[static_cast<std::size_t>(j)] = gates[static_cast<std::size_t>(j)];
                } else {
                    std::vector<double> hNew(static_cast<std::size_t>(H));
                    // Every unit's reset gate first: (r ⊙ h) R^T mixes them all.
                    std::vector<double> reset(static_cast<std::size_t>(H));
                    for (int64_t k = 0; k < H; ++k)
                        reset[static_cast<std::size_t>(k)] =
                            f(clip(gates[static_cast<std::size_t>(k + H)]));
                    for (int64_t j = 0; j < H; ++j) {
                        const auto ju = static_cast<std::size_t>(j);
                        const double z = f(clip(gates[ju]));
                        const double r = reset[ju];
                        const int64_t row = 2 * H + j;
                        double rh = 0.0;
                        if (a.linearBeforeReset) {
                            double lin = Rb ? Rb[row] : 0.0;
                            for (int64_t k = 0; k < H; ++k)
                                lin += Rd[row * H + k] * h[static_cast<std::size_t>(k)];
                            rh = r * lin;
                        } else {
                            for (int64_t k = 0; k < H; ++k)
                                rh += Rd[row * H + k] * reset[static_cast<std::size_t>(k)] *
                                      h[static_cast<std::size_t>(k)];
                            rh += Rb ? Rb[row] : 0.0;
                        }
                        const double cand = g(clip(gates[ju + 2 * H] + rh));
                        hNew[ju] = (1.0 - z) * cand + z * h[ju];
                    }
                    h = std::move(hNew);
                }
                for (int64_t j = 0; j < H; ++j) {
                    const int64_t at = a.batchMajor ? ((b * seq + t) * dirs + d) * H + j
                                                    : ((t * dirs + d) * batch + b) * H + j;
                    y[static_cast<std::size_t>(at)] = h[static_cast<std::size_t>(j)];
                }
            }
            for (int64_t j = 0; j < H; ++j) {
                const auto s = static_cast<std::size_t>(stateIndex(d, b, j));
                hOut[s] = h[static_cast<std::size_t>(j)];
                cOut[s] = c[static_cast<std::size_t>(j)];
            }
        }
    }
    auto store = [](HostTensor* out, const Dims& dims, const std::vector<double>& v, D type) {
        if (!out) return;
        out->ensure(type, dims);
        T* p = out->data<T>();
        for (std::size_t i = 0; i < v.size(); ++i) p[i] = static_cast<T>(v[i]);
    };
    store(Y, yDims, y, xt.dtype());
    store(Yh, stateDims, hOut, xt.dtype());
    store(Yc, stateDims, cOut, xt.dtype());
    return Status::ok();
}

Expected<KernelBuild> rnnFactory(const KernelContext& ctx, bool lstm) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 3));
    const TensorInfo& x = ctx.inputs[0];
    if (x.dtype != D::kFloat && x.dtype != D::kDouble) return unsupportedType(ctx, x.dtype);
    WH_ASSIGN_OR_RETURN(RnnAttrs a, readAttrs(ctx, lstm));
    auto run = [a](Ins in, Outs outs) -> Status {
        auto r = dispatch<TypeSet::kFloat>(in[0]->dtype(), [&](auto zero) {
            return runRnn<decltype(zero)>(a, in, outs);
        });
        return r ? *r : makeStatus(StatusCode::kUnsupported, "RNN of {}", typeName(in[0]->dtype()));
    };
    KernelBuild b;
    b.kernel = makeKernel(std::move(run));
    const int n = std::min(ctx.node.numOutputs(), lstm ? 3 : 2);
    TensorInfo y = unknownRank(x.dtype), state = unknownRank(x.dtype);
    if (x.rankKnown && x.dims.size() == 3) {
        const int64_t seq = a.batchMajor ? x.dims[1] : x.dims[0];
        const int64_t batch = a.batchMajor ? x.dims[0] : x.dims[1];
        y = infoOf(x.dtype, a.batchMajor ? Dims{batch, seq, a.dirs, a.hidden}
                                         : Dims{seq, a.dirs, batch, a.hidden});
        state = infoOf(x.dtype, a.batchMajor ? Dims{batch, a.dirs, a.hidden}
                                             : Dims{a.dirs, batch, a.hidden});
    }
    for (int i = 0; i < std::max(n, 1); ++i) b.outputs.push_back(i == 0 ? y : state);
    return b;
}

}  // namespace

void registerRnnOps(KernelRegistry& r) {
    r.add("", "LSTM", 7, 18, kRef, [](const KernelContext& ctx) { return rnnFactory(ctx, true); });
    r.add("", "GRU", 7, 18, kRef, [](const KernelContext& ctx) { return rnnFactory(ctx, false); });
}

}  // namespace wh::engine::ref
