// libFuzzer target for the ONNX importer. Any bytes must either be refused with a one-line
// kBadInput message that starts with the display name, or load; a model that loads must export,
// its export must load again, and exporting that must give the same bytes. Anything else (a
// crash, a sanitizer report, a broken rule) is a finding: the input goes to tests/data/bad/ with
// the message it must give.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "core/onnx/model_io.h"

namespace {

constexpr const char* kName = "fuzz.onnx";

[[noreturn]] void finding(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz_importer: %s: %s\n", what, detail.c_str());
    std::abort();
}

void checkRefusal(const wh::Status& s, const char* stage) {
    const std::string& m = s.message();
    if (s.code() != wh::StatusCode::kBadInput) finding(stage, "code is not kBadInput: " + m);
    if (!m.starts_with(std::string(kName) + ": ")) finding(stage, "message lacks the name: " + m);
    if (m.find_first_of("\r\n") != std::string::npos) finding(stage, "message spans lines: " + m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto bytes = std::as_bytes(std::span(data, size));
    // An empty baseDir: external data is refused, never read from wherever the fuzzer runs.
    auto model = wh::onnx::parseModel(bytes, kName, {});
    if (!model) {
        checkRefusal(model.error(), "import");
        return 0;
    }
    auto exported = wh::onnx::serializeModel(*model);
    if (!exported) finding("export of a loaded model failed", exported.error().message());
    auto again = wh::onnx::parseModel(std::as_bytes(std::span(*exported)), kName, {});
    if (!again) finding("our own export does not load", again.error().message());
    // Our export is canonical for the IR it came from, so exporting what it loads into must give
    // the same bytes: anything else is a loss in import or export.
    auto twice = wh::onnx::serializeModel(*again);
    if (!twice) finding("second export failed", twice.error().message());
    if (*twice != *exported)
        finding("export -> import -> export changed the bytes",
                std::to_string(exported->size()) + " vs " + std::to_string(twice->size()));
    return 0;
}
