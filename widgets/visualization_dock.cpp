#include "widgets/visualization_dock.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QVBoxLayout>

#include "core/algo/layer_error.h"
#include "widgets/algorithm_dock.h"
#include "widgets/document.h"
#include "widgets/job_runner.h"
#include "widgets/graph_view.h"
#include "widgets/profiler_dock.h"

namespace wh::widgets {

namespace {

const QColor kNoData(0xd6, 0xd9, 0xdd);

/// Light to dark red: t in [0, 1].
QColor heat(double t) {
    t = std::clamp(t, 0.0, 1.0);
    const QColor lo(0xfe, 0xe8, 0xc8), hi(0xb3, 0x00, 0x00);
    return QColor::fromRgbF(static_cast<float>(lo.redF() + t * (hi.redF() - lo.redF())),
                            static_cast<float>(lo.greenF() + t * (hi.greenF() - lo.greenF())),
                            static_cast<float>(lo.blueF() + t * (hi.blueF() - lo.blueF())));
}

/// The bit width a weight tensor is stored with: its element type, or for integers the distinct
/// levels it uses (an int8 tensor holding only ±1 is a 1-bit weight).
int storedBits(const ir::Tensor& t) {
    switch (t.dtype) {
    case ir::DType::kFloat: return 32;
    case ir::DType::kDouble: return 64;
    case ir::DType::kFloat16:
    case ir::DType::kBFloat16: return 16;
    case ir::DType::kInt8:
    case ir::DType::kUInt8: {
        const auto bytes = t.values<uint8_t>();
        bool seen[256] = {};
        int levels = 0;
        for (uint8_t b : bytes) levels += !std::exchange(seen[b], true);
        if (levels <= 2) return levels <= 1 ? 8 : 1;  // one level: a constant, not a code
        if (levels <= 4) return 2;
        if (levels <= 16) return 4;
        return 8;
    }
    case ir::DType::kInt16:
    case ir::DType::kUInt16: return 16;
    default: return 0;
    }
}

/// The initializer `v` holds, looking through up to three single-input forwarding ops
/// (Identity, Reshape, Transpose, Cast, Squeeze, Unsqueeze), and whether a DequantizeLinear was
/// crossed.
const ir::Tensor* weightSource(const ir::Value* v) {
    for (int hop = 0; v && hop < 4; ++hop) {
        if (const ir::Tensor* t = v->initializer()) return t;
        const ir::Node* p = v->producer();
        if (!p || p->inputs().empty()) return nullptr;
        static const std::unordered_set<std::string> forward{
            "Identity", "Reshape", "Transpose", "Cast", "Squeeze", "Unsqueeze", "DequantizeLinear"};
        if (!forward.count(p->opType)) return nullptr;
        v = p->inputs()[0];
    }
    return nullptr;
}

}  // namespace

VisualizationDock::VisualizationDock(GraphView* view, ProfilerDock* profiler,
                                     AlgorithmDock* algorithm, JobRunner* runner, QWidget* parent)
    : QDockWidget(tr("Visualization"), parent),
      m_view(view),
      m_profiler(profiler),
      m_algorithm(algorithm),
      m_runner(runner) {
    setObjectName(QStringLiteral("VisualizationDock"));
    auto* panel = new QWidget(this);
    m_mode = new QComboBox(panel);
    m_mode->setObjectName(QStringLiteral("VisualizationMode"));
    m_mode->addItem(tr("Op category"));
    m_mode->addItem(tr("Latency share (Profiler)"));
    m_mode->addItem(tr("Weight bit width"));
    m_mode->addItem(tr("Quantization error (last run)"));
    m_mode->addItem(tr("Channels removed (last run)"));
    m_mode->setToolTip(tr("What the colours of the graph's nodes show"));
    m_profileButton = new QPushButton(tr("Profile Now"), panel);
    m_profileButton->setToolTip(tr("Profile the model (F6) to colour it by latency"));
    m_profileButton->hide();
    m_legend = new QLabel(panel);
    m_legend->setObjectName(QStringLiteral("VisualizationLegend"));
    m_legend->setWordWrap(true);
    m_legend->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Colour nodes by"), panel));
    top->addWidget(m_mode);
    top->addWidget(m_profileButton);
    top->addStretch(1);
    auto* layout = new QVBoxLayout(panel);
    layout->setContentsMargins(6, 4, 6, 4);
    layout->addLayout(top);
    layout->addWidget(m_legend, 1);
    setWidget(panel);
    connect(m_mode, &QComboBox::currentIndexChanged, this, &VisualizationDock::refresh);
    connect(m_profileButton, &QPushButton::clicked, this, [this] {
        if (m_profiler) m_profiler->profile();
    });
    if (m_profiler)
        connect(m_profiler, &ProfilerDock::profileFinished, this, [this] {
            if (mode() == Mode::kLatency) refresh();
        });
    if (m_algorithm)
        connect(m_algorithm, &AlgorithmDock::runFinished, this, [this](bool ok) {
            if (ok && mode() == Mode::kError) refresh();
        });
    refresh();
}

VisualizationDock::~VisualizationDock() {
    if (m_job) m_job->cancel();
}

bool VisualizationDock::isComputing() const {
    return m_job && m_job->isRunning();
}

QColor VisualizationDock::sqnrColor(double db) {
    if (db >= 40) return QColor(0x1a, 0x98, 0x50);
    if (db >= 30) return QColor(0x91, 0xcf, 0x60);
    if (db >= 20) return QColor(0xfe, 0xe0, 0x8b);
    if (db >= 10) return QColor(0xfc, 0x8d, 0x59);
    return QColor(0xd7, 0x30, 0x27);
}

std::optional<double> VisualizationDock::sqnrOf(const ir::Node& node,
                                                const std::map<std::string, double>& sqnr) {
    auto e = sqnr.find(node.name);
    // A convolution whose BatchNormalization the export folded into it has no output of its own
    // there: it shows the error of that BatchNormalization's output.
    const ir::Value* out = node.numOutputs() > 0 ? node.output(0) : nullptr;
    if (e == sqnr.end() && out && out->uses().size() == 1 &&
        out->uses()[0].node->opType == "BatchNormalization")
        e = sqnr.find(out->uses()[0].node->name);
    if (e == sqnr.end()) return std::nullopt;
    return e->second;
}

QColor VisualizationDock::noDataColor() {
    return kNoData;
}

void VisualizationDock::ensureErrors() {
    const auto result = m_algorithm ? m_algorithm->lastResult() : nullptr;
    if (!result) return;
    if (m_errorsOf == result.get() && (isComputing() || !m_sqnr.empty())) {
        if (!isComputing()) emit errorsReady(true);
        return;
    }
    computeErrors();
}

void VisualizationDock::computeErrors() {
    const auto result = m_algorithm ? m_algorithm->lastResult() : nullptr;
    const auto input = m_algorithm ? m_algorithm->lastInput() : nullptr;
    if (!result || !input) return;
    if (m_job) m_job->cancel();
    m_sqnr.clear();
    m_errorsOf = result.get();
    m_errorStatus = tr("computing the per-layer error on 64 calibration samples…");
    const std::string dataset = m_algorithm->lastDataset().toStdString();
    const std::string dataDir = m_algorithm->lastDataDir().toStdString();
    using Errors = std::vector<algo::LayerError>;
    Job* job = m_runner->run(
        tr("Per-layer error of %1").arg(QString::fromStdString(result->algorithm)),
        [input, result, dataset, dataDir](jobs::JobContext& ctx) -> Expected<Errors> {
            WH_ASSIGN_OR_RETURN(std::shared_ptr<data::Dataset> data,
                                data::openDataset(dataset, "train", dataDir,
                                                  algo::datasetNormalization(dataset)));
            algo::LayerErrorOptions o;
            o.samples = 64;
            o.probe.batch = 32;
            return algo::layerErrors(*input, result->model, *data, o, &ctx);
        },
        JobRunner::Lane::kEngine);
    m_job = job;
    connect(job, &Job::finished, this, [this, job] {
        const Errors* errors = job->result<Errors>();
        if (!errors) return;
        for (const algo::LayerError& e : *errors) m_sqnr[e.node] = e.sqnrDb;
        m_errorStatus.clear();
        if (mode() == Mode::kError) refresh();
        emit errorsReady(true);
    });
    connect(job, &Job::failed, this, [this](const Status& status) {
        m_errorStatus = tr("The per-layer error could not be computed: %1")
                            .arg(QString::fromStdString(status.message()));
        if (mode() == Mode::kError) refresh();
        emit errorsReady(false);
    });
    connect(job, &Job::cancelled, this, [this] {
        m_errorStatus = tr("Cancelled.");
        m_errorsOf = nullptr;
        emit errorsReady(false);
    });
}

void VisualizationDock::setDocument(Document* doc) {
    if (m_doc) m_doc->disconnect(this);
    m_doc = doc;
    if (m_doc) connect(m_doc, &Document::changed, this, &VisualizationDock::refresh);
    refresh();
}

void VisualizationDock::setMode(Mode mode) {
    m_mode->setCurrentIndex(static_cast<int>(mode));
    refresh();
}

VisualizationDock::Mode VisualizationDock::mode() const {
    return static_cast<Mode>(m_mode->currentIndex());
}

QString VisualizationDock::legendText() const {
    return m_legendText;
}

QColor VisualizationDock::bitsColor(int bits) {
    switch (bits) {
    case 64:
    case 32: return QColor(0x8d, 0x99, 0xa6);
    case 16: return QColor(0x6b, 0xae, 0xd6);
    case 8: return QColor(0x31, 0xa3, 0x54);
    case 4: return QColor(0xfd, 0x8d, 0x3c);
    case 2: return QColor(0xe6, 0x55, 0x0d);
    case 1: return QColor(0xa5, 0x0f, 0x15);
    default: return kNoData;
    }
}

std::unordered_map<ir::NodeId, QColor> VisualizationDock::latencyColors(
    const analysis::Profile& profile) {
    std::unordered_map<ir::NodeId, QColor> colors;
    double maxShare = 0;
    for (const analysis::NodeProfile& n : profile.nodes)
        if (profile.stepMs > 0) maxShare = std::max(maxShare, n.ms / profile.stepMs);
    std::unordered_map<ir::NodeId, QColor> ofStep;
    for (const analysis::NodeProfile& n : profile.nodes) {
        if (n.steps == 0) continue;
        // Square root: a few big convolutions would otherwise leave everything else pale.
        const double t = maxShare > 0 ? std::sqrt(n.ms / profile.stepMs / maxShare) : 0.0;
        ofStep[n.node] = colors[n.node] = heat(t);
    }
    for (const analysis::NodeProfile& n : profile.nodes) {
        if (n.steps != 0) continue;
        const auto root = n.fusedInto ? ofStep.find(*n.fusedInto) : ofStep.end();
        colors[n.node] = root != ofStep.end() ? root->second : kNoData;
    }
    return colors;
}

std::map<std::string, double> VisualizationDock::prunedRatios(const ir::Graph& before,
                                                              const ir::Graph& after) {
    static const std::unordered_set<std::string> layers{"Conv", "ConvTranspose", "Gemm", "MatMul"};
    // Output channels of a layer's weights: Conv's dim 0, ConvTranspose's dim 1 (times group),
    // Gemm's by transB, MatMul's last.
    const auto channels = [](const ir::Node& n) -> int64_t {
        if (n.numInputs() < 2) return 0;
        const ir::Tensor* w = weightSource(n.input(1));
        if (!w || w->dims.size() < 2) return 0;
        if (n.opType == "Conv") return w->dims[0];
        if (n.opType == "ConvTranspose") return w->dims[1] * n.attrInt("group", 1);
        if (n.opType == "Gemm") return n.attrInt("transB", 0) ? w->dims[0] : w->dims[1];
        return w->dims.back();
    };
    std::unordered_map<std::string, const ir::Node*> afterByName;
    for (const ir::Node* n : after.nodes())
        if (layers.count(n->opType) && !n->name.empty()) afterByName.emplace(n->name, n);
    std::map<std::string, double> out;
    for (const ir::Node* n : before.nodes()) {
        if (!layers.count(n->opType) || n->name.empty()) continue;
        auto it = afterByName.find(n->name);
        if (it == afterByName.end()) continue;
        const int64_t b = channels(*n), a = channels(*it->second);
        if (b > 0 && a > 0) out[n->name] = 1.0 - static_cast<double>(a) / static_cast<double>(b);
    }
    return out;
}

std::unordered_map<ir::NodeId, int> VisualizationDock::weightBits(const ir::Graph& graph) {
    static const std::unordered_set<std::string> weighted{"Conv", "Gemm", "MatMul",
                                                          "ConvTranspose"};
    std::unordered_map<ir::NodeId, int> bits;
    for (const ir::Node* n : graph.nodes()) {
        if (!weighted.count(n->opType) || n->inputs().size() < 2) continue;
        const ir::Tensor* w = weightSource(n->inputs()[1]);
        if (!w && n->opType == "MatMul") w = weightSource(n->inputs()[0]);  // x·W or W·x
        if (w) bits[n->id()] = storedBits(*w);
    }
    return bits;
}

QString VisualizationDock::legendHtml(const std::vector<std::pair<QColor, QString>>& entries) {
    QString html;
    for (const auto& [color, text] : entries)
        html += QStringLiteral("<span style=\"background-color:%1\">&nbsp;&nbsp;&nbsp;&nbsp;</span>"
                               "&nbsp;%2&nbsp;&nbsp; ")
                    .arg(color.name(), text.toHtmlEscaped());
    return html;
}

void VisualizationDock::setLegend(const std::vector<std::pair<QColor, QString>>& entries,
                                  const QString& note) {
    QString html = legendHtml(entries);
    QStringList plain;
    for (const auto& entry : entries) plain << entry.second;
    if (!note.isEmpty()) {
        html += QStringLiteral("<br>%1").arg(note.toHtmlEscaped());
        plain << note;
    }
    m_legend->setText(html);
    m_legendText = plain.join(QLatin1Char('\n'));
}

void VisualizationDock::refresh() {
    m_profileButton->hide();
    if (!m_view) return;
    if (!m_doc || mode() == Mode::kCategory) {
        m_view->setNodeColors({});
        setLegend({}, m_doc ? tr("Nodes are coloured by op category (the usual view).")
                            : tr("Open a model to colour its nodes."));
        return;
    }
    if (mode() == Mode::kLatency) {
        const auto profile = m_profiler ? m_profiler->currentProfile() : nullptr;
        if (!profile) {
            m_view->setNodeColors({});
            m_profileButton->show();
            setLegend({}, tr("No profile of this model yet: Profile Now (F6), and the nodes are "
                             "coloured by their share of the run."));
            return;
        }
        m_view->setNodeColors(latencyColors(*profile));
        double maxShare = 0;
        for (const analysis::NodeProfile& n : profile->nodes)
            if (profile->stepMs > 0) maxShare = std::max(maxShare, n.ms / profile->stepMs);
        std::vector<std::pair<QColor, QString>> entries;
        for (double f : {0.0, 0.25, 0.5, 1.0})
            entries.push_back({heat(std::sqrt(f)),
                               tr("%1 % of the run")
                                   .arg(QLocale().toString(100.0 * f * maxShare, 'f', 1))});
        entries.push_back({kNoData, tr("no step of its own (folded), or not profiled")});
        QString note = tr("Fused nodes take the colour of the step they ran in. Profile of batch "
                          "%1, %2 ms per run.")
                           .arg(profile->batch)
                           .arg(QLocale().toString(profile->wallMs, 'f', 3));
        if (m_doc->revision() != m_profiler->profiledRevision())
            note += tr(" The model changed since: profile again.");
        setLegend(entries, note);
        return;
    }
    if (mode() == Mode::kError) {
        const auto result = m_algorithm ? m_algorithm->lastResult() : nullptr;
        if (!result) {
            m_view->setNodeColors({});
            setLegend({}, tr("Run an algorithm (Algorithm dock, Ctrl+R): each layer of the model "
                             "is then coloured by how far the compressed model's output drifts "
                             "from the float one (SQNR)."));
            return;
        }
        if (m_errorsOf != result.get()) computeErrors();
        if (isComputing() || m_sqnr.empty()) {
            m_view->setNodeColors({});
            setLegend({}, m_errorStatus);
            return;
        }
        std::unordered_map<ir::NodeId, QColor> colors;
        int matched = 0;
        for (const ir::Node* n : m_doc->graph().nodes()) {
            const std::optional<double> db = sqnrOf(*n, m_sqnr);
            colors[n->id()] = db ? sqnrColor(*db) : kNoData;
            matched += db.has_value();
        }
        m_view->setNodeColors(std::move(colors));
        double worst = std::numeric_limits<double>::infinity();
        std::string worstNode;
        for (const auto& [node, db] : m_sqnr) {
            if (db >= worst) continue;
            worst = db;
            worstNode = node;
        }
        setLegend({{sqnrColor(40), tr(">= 40 dB")},
                   {sqnrColor(30), tr("30-40 dB")},
                   {sqnrColor(20), tr("20-30 dB")},
                   {sqnrColor(10), tr("10-20 dB")},
                   {sqnrColor(0), tr("< 10 dB")},
                   {kNoData, tr("not compared")}},
                  tr("SQNR of each node's output, compressed vs float, on 64 calibration samples "
                     "(%1 of this model's nodes matched by name). Worst: %2 (%3 dB).")
                      .arg(matched)
                      .arg(QString::fromStdString(worstNode))
                      .arg(QLocale().toString(worst, 'f', 1)));
        return;
    }
    if (mode() == Mode::kPruned) {
        const auto result = m_algorithm ? m_algorithm->lastResult() : nullptr;
        const auto input = m_algorithm ? m_algorithm->lastInput() : nullptr;
        if (!result || !input) {
            m_view->setNodeColors({});
            setLegend({}, tr("Run a pruning algorithm (Algorithm dock, Ctrl+R: scop, l1, "
                             "bn_gamma): each layer is then coloured by the share of its output "
                             "channels the run removed."));
            return;
        }
        const std::map<std::string, double> ratios = prunedRatios(*input->graph, *result->model.graph);
        std::unordered_map<ir::NodeId, QColor> colors;
        double most = 0;
        int pruned = 0;
        for (const ir::Node* n : m_doc->graph().nodes()) {
            auto r = ratios.find(n->name);
            colors[n->id()] = r == ratios.end() ? kNoData.lighter(108) : heat(std::sqrt(r->second));
            if (r != ratios.end() && r->second > 0) {
                ++pruned;
                most = std::max(most, r->second);
            }
        }
        m_view->setNodeColors(std::move(colors));
        std::vector<std::pair<QColor, QString>> entries;
        for (double f : {0.0, 0.25, 0.5, 0.75})
            entries.push_back({heat(std::sqrt(f)),
                               tr("%1 % of the channels removed")
                                   .arg(QLocale().toString(100.0 * f, 'f', 0))});
        entries.push_back({kNoData.lighter(108), tr("no weights, or not in the run")});
        setLegend(entries, tr("%1 of %2 layers lost channels in the last run (at most %3 %).")
                               .arg(pruned)
                               .arg(ratios.size())
                               .arg(QLocale().toString(100.0 * most, 'f', 1)));
        return;
    }
    const std::unordered_map<ir::NodeId, int> bits = weightBits(m_doc->graph());
    std::unordered_map<ir::NodeId, QColor> colors;
    std::map<int, int, std::greater<>> count;
    for (const ir::Node* n : m_doc->graph().nodes()) {
        const auto b = bits.find(n->id());
        colors[n->id()] = b == bits.end() ? kNoData.lighter(108) : bitsColor(b->second);
        if (b != bits.end()) ++count[b->second];
    }
    m_view->setNodeColors(std::move(colors));
    std::vector<std::pair<QColor, QString>> entries;
    for (const auto& [b, n] : count)
        entries.push_back({bitsColor(b), b > 0 ? tr("%1-bit weights: %2 node(s)").arg(b).arg(n)
                                               : tr("weights of another type: %1 node(s)").arg(n)});
    entries.push_back({kNoData.lighter(108), tr("no weights")});
    setLegend(entries, count.empty() ? tr("This model has no Conv, Gemm or MatMul with constant "
                                          "weights.")
                                     : tr("Behind a DequantizeLinear, the bit width is the number "
                                          "of levels the stored integers use."));
}

}  // namespace wh::widgets
