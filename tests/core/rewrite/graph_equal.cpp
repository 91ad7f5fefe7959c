#include "graph_equal.h"

#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace wh::test {

namespace {

using ir::Attribute;
using ir::Graph;
using ir::Node;
using ir::Tensor;
using ir::Type;
using ir::Value;

struct Differ {
    std::string* diff;
    std::string path;

    bool fail(const std::string& what) {
        if (diff) *diff = path.empty() ? what : path + ": " + what;
        return false;
    }
    template <class T>
    bool same(const T& a, const T& b, const char* field) {
        if (a == b) return true;
        return fail(fmt::format("{} differs", field));
    }
    bool samePresence(const ir::Presence& a, const ir::Presence& b, const char* field) {
        if (a.bits == b.bits) return true;
        return fail(fmt::format("{} presence differs ({:#x} vs {:#x})", field, a.bits, b.bits));
    }
    bool sameFloats(const std::vector<float>& a, const std::vector<float>& b, const char* f) {
        if (a.size() == b.size() &&
            (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0))
            return true;
        return fail(fmt::format("{} differs", f));
    }

    bool tensor(const Tensor& a, const Tensor& b) {
        if (!same(a.name, b.name, "tensor name") || !same(a.dtype, b.dtype, "tensor dtype") ||
            !same(a.dims, b.dims, "tensor dims") || !same(a.strings, b.strings, "tensor strings") ||
            !same(a.docString, b.docString, "tensor docString") ||
            !same(a.storage, b.storage, "tensor storage") ||
            !same(a.externalData, b.externalData, "tensor externalData") ||
            !same(a.segment, b.segment, "tensor segment") ||
            !samePresence(a.presence, b.presence, "tensor") ||
            !samePresence(a.segmentPresence, b.segmentPresence, "tensor segment"))
            return false;
        if (a.data == b.data) return true;
        const std::size_t sa = a.byteSize(), sb = b.byteSize();
        if (sa != sb) return fail(fmt::format("tensor '{}' byte size {} vs {}", a.name, sa, sb));
        if (sa && std::memcmp(a.data->data(), b.data->data(), sa) != 0)
            return fail(fmt::format("tensor '{}' bytes differ", a.name));
        return true;
    }
    bool sparse(const ir::SparseTensor& a, const ir::SparseTensor& b) {
        return tensor(a.values, b.values) && tensor(a.indices, b.indices) &&
               same(a.dims, b.dims, "sparse dims") &&
               samePresence(a.presence, b.presence, "sparse");
    }
    bool type(const Type& a, const Type& b) {
        if (!same(a.kind, b.kind, "type kind") || !same(a.elemType, b.elemType, "elem type") ||
            !same(a.keyType, b.keyType, "key type") ||
            !same(a.opaqueDomain, b.opaqueDomain, "opaque domain") ||
            !same(a.opaqueName, b.opaqueName, "opaque name") ||
            !same(a.denotation, b.denotation, "type denotation") ||
            !samePresence(a.presence, b.presence, "type") ||
            !samePresence(a.innerPresence, b.innerPresence, "type inner"))
            return false;
        if (a.shape.has_value() != b.shape.has_value()) return fail("shape presence differs");
        if (a.shape) {
            if (a.shape->dims.size() != b.shape->dims.size()) return fail("rank differs");
            for (std::size_t i = 0; i < a.shape->dims.size(); ++i) {
                const ir::Dim &x = a.shape->dims[i], &y = b.shape->dims[i];
                if (x.kind != y.kind || x.value != y.value || x.param != y.param ||
                    x.denotation != y.denotation || x.presence != y.presence)
                    return fail(fmt::format("dim {} differs", i));
            }
        }
        if (!!a.elem != !!b.elem) return fail("element type presence differs");
        return !a.elem || type(*a.elem, *b.elem);
    }
    bool attribute(const Attribute& a, const Attribute& b) {
        std::string saved = path;
        path += fmt::format(" attr '{}'", a.name);
        bool ok = same(a.name, b.name, "name") && same(a.type, b.type, "type") &&
                  same(a.refAttrName, b.refAttrName, "refAttrName") &&
                  same(a.docString, b.docString, "docString") &&
                  (std::memcmp(&a.f, &b.f, sizeof(float)) == 0 || fail("f differs")) &&
                  same(a.i, b.i, "i") && same(a.s, b.s, "s") &&
                  sameFloats(a.floats, b.floats, "floats") && same(a.ints, b.ints, "ints") &&
                  same(a.strings, b.strings, "strings") &&
                  samePresence(a.presence, b.presence, "attribute");
        if (ok && a.t.has_value() != b.t.has_value()) ok = fail("t presence differs");
        if (ok && a.t) ok = tensor(*a.t, *b.t);
        if (ok && !!a.g != !!b.g) ok = fail("g presence differs");
        if (ok && a.g) ok = graph(*a.g, *b.g);
        if (ok && a.sparseTensor.has_value() != b.sparseTensor.has_value())
            ok = fail("sparse tensor presence differs");
        if (ok && a.sparseTensor) ok = sparse(*a.sparseTensor, *b.sparseTensor);
        if (ok && a.tp.has_value() != b.tp.has_value()) ok = fail("tp presence differs");
        if (ok && a.tp) ok = type(*a.tp, *b.tp);
        if (ok && a.tensors.size() != b.tensors.size()) ok = fail("tensors count differs");
        for (std::size_t i = 0; ok && i < a.tensors.size(); ++i)
            ok = tensor(a.tensors[i], b.tensors[i]);
        if (ok && a.graphs.size() != b.graphs.size()) ok = fail("graphs count differs");
        for (std::size_t i = 0; ok && i < a.graphs.size(); ++i) {
            if (!!a.graphs[i] != !!b.graphs[i])
                ok = fail("graph presence differs");
            else if (a.graphs[i])
                ok = graph(*a.graphs[i], *b.graphs[i]);
        }
        if (ok && a.sparseTensors.size() != b.sparseTensors.size())
            ok = fail("sparse tensors count differs");
        for (std::size_t i = 0; ok && i < a.sparseTensors.size(); ++i)
            ok = sparse(a.sparseTensors[i], b.sparseTensors[i]);
        if (ok && a.typeProtos.size() != b.typeProtos.size()) ok = fail("typeProtos count differs");
        for (std::size_t i = 0; ok && i < a.typeProtos.size(); ++i)
            ok = type(a.typeProtos[i], b.typeProtos[i]);
        if (ok) path = saved;
        return ok;
    }
    static std::vector<std::string> names(const std::vector<Value*>& values) {
        std::vector<std::string> out;
        for (const Value* v : values) out.push_back(v ? v->name() : "<absent>");
        return out;
    }
    bool list(const std::vector<Value*>& a, const std::vector<Value*>& b, const char* what) {
        auto na = names(a), nb = names(b);
        if (na == nb) return true;
        return fail(
            fmt::format("{} differ: [{}] vs [{}]", what, fmt::join(na, ", "), fmt::join(nb, ", ")));
    }
    bool node(const Node& a, const Node& b) {
        std::string saved = path;
        path += fmt::format(" node #{} '{}' ({})", a.id(), a.name, a.opType);
        bool ok = same(a.id(), b.id(), "id") && same(a.opType, b.opType, "opType") &&
                  same(a.name, b.name, "name") && same(a.domain, b.domain, "domain") &&
                  same(a.docString, b.docString, "docString") &&
                  samePresence(a.presence, b.presence, "node") &&
                  list(a.inputs(), b.inputs(), "inputs") &&
                  list(a.outputs(), b.outputs(), "outputs");
        if (ok && a.attributes().size() != b.attributes().size())
            ok = fail(fmt::format("attribute count {} vs {}", a.attributes().size(),
                                  b.attributes().size()));
        for (std::size_t i = 0; ok && i < a.attributes().size(); ++i)
            ok = attribute(a.attributes()[i], b.attributes()[i]);
        if (ok) path = saved;
        return ok;
    }
    bool value(const Value& a, const Value& b) {
        std::string saved = path;
        path += fmt::format(" value '{}'", a.name());
        bool ok = type(a.type, b.type) && same(a.docString, b.docString, "docString") &&
                  samePresence(a.presence, b.presence, "value") &&
                  same(a.isCapture(), b.isCapture(), "capture flag") &&
                  same(a.isInValueInfo(), b.isInValueInfo(), "value_info membership") &&
                  same(a.producer() ? a.producer()->id() : 0, b.producer() ? b.producer()->id() : 0,
                       "producer") &&
                  same(a.producerOutput(), b.producerOutput(), "producer output") &&
                  same(a.uses().size(), b.uses().size(), "use count") &&
                  same(a.hasInitializer(), b.hasInitializer(), "initializer presence") &&
                  same(!!a.sparseInitializer(), !!b.sparseInitializer(), "sparse presence");
        if (ok && a.hasInitializer()) ok = tensor(*a.initializer(), *b.initializer());
        if (ok && a.sparseInitializer())
            ok = sparse(*a.sparseInitializer(), *b.sparseInitializer());
        if (ok) path = saved;
        return ok;
    }

    bool graph(const Graph& a, const Graph& b) {
        std::string saved = path;
        path += fmt::format(" graph '{}'", a.name);
        bool ok = same(a.name, b.name, "name") && same(a.docString, b.docString, "docString") &&
                  samePresence(a.presence, b.presence, "graph");
        if (ok && a.quantizationAnnotations.size() != b.quantizationAnnotations.size())
            ok = fail("quantization annotation count differs");
        for (std::size_t i = 0; ok && i < a.quantizationAnnotations.size(); ++i) {
            const auto &x = a.quantizationAnnotations[i], &y = b.quantizationAnnotations[i];
            if (x.tensorName != y.tensorName ||
                x.quantParameterTensorNames != y.quantParameterTensorNames ||
                x.presence != y.presence)
                ok = fail(fmt::format("quantization annotation {} differs", i));
        }
        if (ok && a.numNodes() != b.numNodes())
            ok = fail(fmt::format("node count {} vs {}", a.numNodes(), b.numNodes()));
        if (ok) {
            auto ia = a.nodes().begin(), ib = b.nodes().begin();
            for (; ok && ia != a.nodes().end(); ++ia, ++ib) ok = node(**ia, **ib);
        }
        ok = ok && list(a.inputs(), b.inputs(), "graph inputs") &&
             list(a.outputs(), b.outputs(), "graph outputs") &&
             list(a.initializers(), b.initializers(), "initializers") &&
             list(a.sparseInitializers(), b.sparseInitializers(), "sparse initializers") &&
             list(a.valueInfos(), b.valueInfos(), "value_info");
        if (ok && a.numValues() != b.numValues()) {
            std::vector<std::string> onlyA, onlyB;
            for (const Value* v : a.valueList())
                if (!b.findValue(v->name())) onlyA.push_back(v->name());
            for (const Value* v : b.valueList())
                if (!a.findValue(v->name())) onlyB.push_back(v->name());
            ok = fail(fmt::format("value count {} vs {} (only left: [{}], only right: [{}])",
                                  a.numValues(), b.numValues(), fmt::join(onlyA, ", "),
                                  fmt::join(onlyB, ", ")));
        }
        if (ok) {
            for (const Value* v : a.valueList()) {
                const Value* w = b.findValue(v->name());
                if (!w) {
                    ok = fail(fmt::format("value '{}' missing on the right", v->name()));
                    break;
                }
                if (!(ok = value(*v, *w))) break;
            }
        }
        if (ok) path = saved;
        return ok;
    }
};

}  // namespace

bool graphsEqual(const ir::Graph& a, const ir::Graph& b, std::string* diff) {
    Differ d{diff, {}};
    return d.graph(a, b);
}

}  // namespace wh::test
