#include "widgets/main_window.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDialog>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QScrollBar>
#include <QSettings>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTimer>
#include <QUndoGroup>
#include <QUndoStack>

#include <fmt/format.h>

#include "core/jobs/job_context.h"
#include "core/layout/graph_layout.h"
#include "core/onnx/model_io.h"
#include "core/onnx/op_schema.h"
#include "core/rewrite/extract.h"
#include "core/util/atomic_file.h"
#include "widgets/algorithm_dock.h"
#include "widgets/comparison_view.h"
#include "widgets/background.h"
#include "widgets/document.h"
#include "widgets/format.h"
#include "widgets/graph_view.h"
#include "widgets/help_dialogs.h"
#include "widgets/issues_dock.h"
#include "widgets/job_runner.h"
#include "widgets/jobs_dock.h"
#include "widgets/node_inspector.h"
#include "widgets/op_palette.h"
#include "widgets/profiler_dock.h"
#include "widgets/run_history.h"
#include "widgets/selection_model.h"
#include "widgets/sensitivity_dock.h"
#include "widgets/shape_table.h"
#include "widgets/summary_dock.h"
#include "widgets/visualization_dock.h"

namespace wh::widgets {

namespace {

constexpr int kStateVersion = 1;  // bump when docks are added or renamed
constexpr int kMaxRecentFiles = 10;
const char* const kGeometryKey = "mainWindow/geometry";
const char* const kStateKey = "mainWindow/state";
const char* const kRecentKey = "recentFiles";
const char* const kLastDirKey = "lastDirectory";

std::filesystem::path toPath(const QString& path) {
    return std::filesystem::path(path.toStdString());
}

bool isOnnxUrl(const QUrl& url) {
    return url.isLocalFile() &&
           url.toLocalFile().endsWith(QStringLiteral(".onnx"), Qt::CaseInsensitive);
}

// "batch, 3, 224, 224", "[N,3,224,224]" or "1x3x224x224": numbers are sizes, names symbols,
// "?" unknown. Nothing, with `error` set, for a malformed dim.
std::optional<std::vector<ir::Dim>> parseDims(const QString& text, QString* error) {
    QString t = text.trimmed();
    if (t.startsWith(QLatin1Char('['))) t.remove(0, 1);
    if (t.endsWith(QLatin1Char(']'))) t.chop(1);
    std::vector<ir::Dim> dims;
    static const QRegularExpression kSeparators(QStringLiteral("[,\\s×]+|(?<=\\d)x(?=\\d)"));
    for (const QString& part : t.split(kSeparators, Qt::SkipEmptyParts)) {
        bool isNumber = false;
        const qlonglong n = part.toLongLong(&isNumber);
        if (isNumber && n >= 0) {
            dims.push_back(ir::Dim::known(n));
        } else if (part == QLatin1String("?")) {
            dims.push_back(ir::Dim{});
        } else if (!isNumber && (part.front().isLetter() || part.front() == QLatin1Char('_'))) {
            dims.push_back(ir::Dim::symbol(part.toStdString()));
        } else {
            *error = QObject::tr("'%1' is not a size, a symbol or '?'").arg(part);
            return std::nullopt;
        }
    }
    return dims;
}

QString dimsText(const ir::Type& type) {
    if (!type.shape) return {};
    QStringList parts;
    for (const ir::Dim& d : type.shape->dims)
        parts << (d.kind == ir::Dim::Kind::kValue   ? QString::number(d.value)
                  : d.kind == ir::Dim::Kind::kParam ? QString::fromStdString(d.param)
                                                    : QStringLiteral("?"));
    return parts.join(QStringLiteral(", "));
}

// Asks where to write a file made from the model at `model` (empty: unsaved), suggesting
// "<its name><suffix>" beside it; the suffix's extension is added to a name typed without one.
// Empty when cancelled.
QString askPathBeside(QWidget* parent, const QString& model, const QString& title,
                      const QString& suffix, const QString& filter) {
    const QFileInfo source(model.isEmpty() ? QStringLiteral("model.onnx") : model);
    QString path = QFileDialog::getSaveFileName(
        parent, title, QDir(source.absolutePath()).filePath(source.completeBaseName() + suffix),
        filter);
    if (!path.isEmpty() && QFileInfo(path).suffix().isEmpty())
        path += QLatin1Char('.') + QFileInfo(suffix).suffix();
    return path;
}

QString qs(const std::string& s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

/// "209 nodes (139 drawn) · 102 layers · 0 crossings · layout 4 ms": counts the user can match
/// with the inspector's (folded constants and weight Identities are not drawn as boxes; a model
/// with If/Loop bodies says "12 top-level nodes (1,234 in all)", as the inspector does; the
/// nodes of expanded bodies count as drawn). Every number has thousands separators.
QString viewSummary(const ir::Graph& graph, const layout::Layout& layout, std::size_t drawn,
                    double seconds) {
    QString nodes = formatNodeCount(graph.numNodes(), graph.numNodesRecursive());
    if (drawn != graph.numNodes())
        nodes += QObject::tr(" (%1 drawn)").arg(formatCount(qulonglong(drawn)));
    const QString time = seconds < 1 ? QObject::tr("%1 ms").arg(qRound(seconds * 1000))
                                     : QObject::tr("%1 s").arg(seconds, 0, 'f', 2);
    return QObject::tr("%1 · %2 layers · %3 crossings · layout %4")
        .arg(nodes, formatCount(qlonglong(layout.numLayers)),
             formatCount(qlonglong(layout.crossings)), time);
}

/// Makes the calling thread yield to others (nice 10 on Linux; a no-op elsewhere).
void lowerCurrentThreadPriority() {
#ifdef __linux__
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
#endif
}

struct LayoutResult {
    std::shared_ptr<const ir::Model> snapshot;
    SceneIndex scene;  // the layout and the view's index of it
    double seconds = 0;
};

/// Lays out `snapshot`'s main graph and builds the view's index of it, polling `ctx` for
/// cancellation: the GUI thread then only installs the result.
Expected<LayoutResult> layoutJob(std::shared_ptr<const ir::Model> snapshot,
                                 layout::LayoutOptions options, qreal devicePixelRatio,
                                 jobs::JobContext& ctx) {
    options.cancel = ctx.cancelFlag();
    auto start = std::chrono::steady_clock::now();
    auto layout =
        std::make_shared<const layout::Layout>(layout::layoutGraph(*snapshot->graph, options));
    if (layout->cancelled) return tl::unexpected(ctx.checkCancelled());
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ctx.setProgress(0.95, "preparing the view");
    SceneIndex scene =
        GraphView::prepareScene(*snapshot->graph, std::move(layout), devicePixelRatio);
    WH_RETURN_IF_ERROR(ctx.checkCancelled());
    return LayoutResult{std::move(snapshot), std::move(scene), seconds};
}

}  // namespace

/// What the open job hands back: the model (for the Document), its snapshot (for the view and
/// later jobs), the snapshot's layout, and what validate() found.
struct MainWindow::OpenResult {
    std::shared_ptr<ir::Model> model;
    LayoutResult view;
    std::vector<ModelIssue> issues;  // what checkModel() found
};

MainWindow::MainWindow(SettingsMode settings, QWidget* parent)
    : QMainWindow(parent), m_settingsMode(settings) {
    setObjectName(QStringLiteral("MainWindow"));
    setAcceptDrops(true);
    tuneAllocatorForBigGraphs();
    m_askText = [this](const QString& title, const QString& label,
                       const QString& initial) -> std::optional<QString> {
        bool ok = false;
        const QString text =
            QInputDialog::getText(this, title, label, QLineEdit::Normal, initial, &ok);
        if (!ok) return std::nullopt;
        return text;
    };
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks |
                   QMainWindow::AllowNestedDocks);

    m_runner = new JobRunner(this);
    m_undoGroup = new QUndoGroup(this);
    m_view = new GraphView(this);
    m_view->setObjectName(QStringLiteral("GraphView"));
    m_view->clear(tr("Open an ONNX model (Ctrl+O) or drop one here."));
    m_centre = new QStackedWidget(this);
    m_centre->addWidget(m_view);
    m_compare = new ComparisonView(m_runner, m_centre);
    m_centre->addWidget(m_compare);
    setCentralWidget(m_centre);
    connect(m_compare, &ComparisonView::closeRequested, this, &MainWindow::showGraph);
    // The view edits the document's SelectionModel; the inspector follows its current node.
    connect(m_view, &GraphView::nodeSelected, this, &MainWindow::onNodeSelected);
    connect(m_view, &GraphView::selectionCleared, this, [this] {
        // Else the model is shown already.
        if (m_inspector->shownNode() || m_inspector->shownSelectionSize() > 0) refreshInspector();
    });

    createDocks();
    createMenus();
    // Permanent widgets: a menu's status tip or a transient message ("Saved …") never hides
    // the model summary or the selection count (plain messages did, and stayed blank after).
    m_selectionLabel = new QLabel(this);
    m_selectionLabel->setObjectName(QStringLiteral("selectionStatus"));
    m_selectionLabel->setContentsMargins(0, 0, 16, 0);  // apart from the summary
    m_summaryLabel = new QLabel(this);
    m_summaryLabel->setObjectName(QStringLiteral("summaryStatus"));
    m_summaryLabel->setTextFormat(Qt::PlainText);
    m_zoomLabel = new QLabel(this);
    m_zoomLabel->setObjectName(QStringLiteral("zoomStatus"));
    m_zoomLabel->setContentsMargins(16, 0, 0, 0);
    m_zoomLabel->setToolTip(tr("Zoom (Ctrl+0 fit, Ctrl+9 fit width, Ctrl+1 actual size)"));
    statusBar()->addPermanentWidget(m_selectionLabel);
    statusBar()->addPermanentWidget(m_summaryLabel);
    statusBar()->addPermanentWidget(m_zoomLabel);
    connect(m_view, &GraphView::zoomChanged, this, [this] { updateZoomStatus(); });
    connect(m_view, &GraphView::layoutChanged, this, [this] { updateSummary(); });
    statusBar()->showMessage(tr("Ready"));
    resize(1400, 900);
    restoreSettings();
    updateTitle();
    updateActions();
}

MainWindow::~MainWindow() {
    // Stop every job while the window is still whole (their end signals reach it). Then detach
    // the view from the document's selection: children are destroyed in no order we control.
    m_runner->shutdown();
    m_view->setSelectionModel(nullptr);
    delete m_doc;
    m_doc = nullptr;
}

const ir::Model* MainWindow::model() const {
    return m_doc ? &m_doc->model() : nullptr;
}

QString MainWindow::filePath() const {
    return m_doc ? m_doc->filePath() : QString();
}

bool MainWindow::isBusy() const {
    return (m_openJob && m_openJob->isRunning()) || (m_layoutJob && m_layoutJob->isRunning()) ||
           m_saving > 0;
}

// ---- Construction --------------------------------------------------------------------------

namespace {
/// The bottom docks' default height suits a list of issues; a table and a chart need more.
constexpr int kBottomToolMinHeight = 380;
}  // namespace

void MainWindow::createDocks() {
    m_inspector = new NodeInspector(this);
    m_inspector->setJobRunner(m_runner);
    connect(m_inspector, &NodeInspector::attributeEditRequested, this,
            [this](ir::NodeId id, const QString& name, const QString& text) {
                // Applying re-shows the node, which deletes the edited row: not from its signal.
                QMetaObject::invokeMethod(
                    this, [this, id, name, text] { editAttribute(id, name, text); },
                    Qt::QueuedConnection);
            });
    connect(m_inspector, &NodeInspector::renameRequested, this,
            [this](ir::NodeId id, const QString& name) {
                QMetaObject::invokeMethod(
                    this, [this, id, name] { renameNode(id, name); }, Qt::QueuedConnection);
            });
    connect(m_inspector, &NodeInspector::editRequested, this,
            [this](const rewrite::Edit& edit) {
                QMetaObject::invokeMethod(
                    this, [this, edit] { applyNamedEdit(edit); }, Qt::QueuedConnection);
            });
    auto* inspectorDock = new QDockWidget(tr("Node Inspector"), this);
    inspectorDock->setObjectName(QStringLiteral("NodeInspectorDock"));
    inspectorDock->setWidget(m_inspector);

    m_algorithm = new AlgorithmDock(m_runner, &algo::Registry::global(), this);
    connect(m_algorithm, &AlgorithmDock::openRequested, this, &MainWindow::openFile);
    auto* algorithm = m_algorithm;
    m_profiler = new ProfilerDock(m_runner, this);
    connect(m_profiler, &ProfilerDock::nodeRequested, this, &MainWindow::focusNode);
    auto* profiler = m_profiler;
    m_summary = new SummaryDock(m_runner, this);
    m_runHistory = std::make_unique<RunHistory>(m_settingsMode == SettingsMode::kPersist);
    auto* summary = m_summary;
    connect(m_algorithm, &AlgorithmDock::runFinished, this, [this](bool ok) {
        if (!ok) return;
        m_summary->setComparison(m_algorithm->lastInput(), m_algorithm->lastInputName(),
                                 m_algorithm->lastResult(), m_algorithm->outputPath());
        m_summary->show();
        m_summary->raise();
        if (!m_summary->isFloating() && m_summary->height() < kBottomToolMinHeight)
            resizeDocks({m_summary}, {kBottomToolMinHeight}, Qt::Vertical);
    });
    connect(m_algorithm, &AlgorithmDock::compareRequested, this, &MainWindow::showComparison);
    connect(m_algorithm, &AlgorithmDock::runFinished, this, [this] {
        if (m_compareAction) m_compareAction->setEnabled(m_algorithm->lastResult() != nullptr);
    });
    m_sensitivity = new SensitivityDock(m_runner, m_algorithm, this);
    connect(m_sensitivity, &SensitivityDock::nodeRequested, this, &MainWindow::focusNode);
    auto* sensitivity = m_sensitivity;
    m_visualization = new VisualizationDock(m_view, m_profiler, m_algorithm, m_runner, this);
    auto* visualization = m_visualization;
    // The comparison's error heat map: the Visualization dock's figures of the same run.
    connect(m_compare, &ComparisonView::errorsWanted, m_visualization,
            &VisualizationDock::ensureErrors);
    connect(m_visualization, &VisualizationDock::errorsReady, this, [this](bool ok) {
        if (ok && m_comparedResult && m_comparedResult == m_algorithm->lastResult())
            m_compare->setLayerErrors(m_visualization->sqnrByNode());
    });
    m_palette = new OpPalette(this);
    connect(m_palette, &OpPalette::addRequested, this,
            [this](const QString& op) { addOperator(op); });
    connect(m_view, &GraphView::operatorDropped, this, &MainWindow::addOperator);
    connect(m_view, &GraphView::connectRequested, this, &MainWindow::connectInput);
    connect(m_view, &GraphView::rewireRequested, this, &MainWindow::rewireInput);
    connect(m_view, &GraphView::disconnectRequested, this, &MainWindow::disconnectInput);
    m_jobs = new JobsDock(this);
    m_jobs->watch(m_runner);
    m_issues = new IssuesDock(this);
    connect(m_issues, &IssuesDock::nodeRequested, this, &MainWindow::focusNode);

    addDockWidget(Qt::RightDockWidgetArea, inspectorDock);
    addDockWidget(Qt::RightDockWidgetArea, algorithm);
    tabifyDockWidget(inspectorDock, algorithm);  // each needs the height; Ctrl+R raises it
    // A few controls and a legend: beside the graph it colours, so the Profiler's table and
    // the Summary at the bottom stay in sight while it is shown.
    addDockWidget(Qt::RightDockWidgetArea, visualization);
    tabifyDockWidget(algorithm, visualization);
    // Beside the graph it adds to; hidden until asked for (Edit > Add Operator, Ctrl+Shift+A).
    addDockWidget(Qt::LeftDockWidgetArea, m_palette);
    m_palette->hide();
    addDockWidget(Qt::BottomDockWidgetArea, m_issues);
    addDockWidget(Qt::BottomDockWidgetArea, m_jobs);
    addDockWidget(Qt::BottomDockWidgetArea, profiler);
    addDockWidget(Qt::BottomDockWidgetArea, summary);
    addDockWidget(Qt::BottomDockWidgetArea, sensitivity);
    tabifyDockWidget(m_issues, m_jobs);
    tabifyDockWidget(m_jobs, profiler);
    tabifyDockWidget(profiler, summary);
    tabifyDockWidget(summary, sensitivity);
    m_issues->raise();
    resizeDocks({inspectorDock}, {420}, Qt::Horizontal);
    inspectorDock->raise();
    resizeDocks({m_issues}, {170}, Qt::Vertical);

    m_docks = {inspectorDock, algorithm,   m_issues,      m_jobs,   profiler,
               summary,       sensitivity, visualization, m_palette};
}

void MainWindow::createMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open…"), this, &MainWindow::openWithDialog);
    open->setShortcut(QKeySequence::Open);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    connect(m_recentMenu, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
    file->addSeparator();
    m_saveAction = file->addAction(tr("&Save"), this, &MainWindow::save);
    m_saveAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_S));
    m_saveAsAction = file->addAction(tr("Save &As…"), this, &MainWindow::saveAs);
    m_saveAsAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
    m_exportAction = file->addAction(tr("&Export…"), this, &MainWindow::exportModel);
    m_exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_exportViewAction = file->addAction(tr("Export &View…"), this, &MainWindow::exportView);
    m_exportViewAction->setStatusTip(
        tr("Save a picture (PNG or SVG) of the whole graph, the visible area or the selection"));
    m_exportViewAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
    m_editScriptAction =
        file->addAction(tr("Save Edit &Script…"), this, &MainWindow::saveEditScript);
    m_editScriptAction->setStatusTip(
        tr("Save the edits made since opening as a script that `whittle-cli edit` replays"));
    m_extractAction =
        file->addAction(tr("E&xtract Selection as Model…"), this, &MainWindow::extractSelection);
    m_extractAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_X));
    m_extractAction->setStatusTip(
        tr("Write what the selected nodes compute as a model of its own (the model stays as "
           "it is)"));
    m_extractBetweenAction = file->addAction(tr("Extract &Between Tensors…"), this,
                                             &MainWindow::extractBetweenTensors);
    m_extractBetweenAction->setShortcut(QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_X));
    m_extractBetweenAction->setStatusTip(
        tr("Write the model that computes chosen tensors from chosen tensors, as "
           "onnx.utils.extract_model does"));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
    quit->setMenuRole(QAction::QuitRole);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    QAction* undo = m_undoGroup->createUndoAction(this, tr("&Undo"));
    undo->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Z));
    QAction* redo = m_undoGroup->createRedoAction(this, tr("&Redo"));
    redo->setShortcuts(
        {QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)});
    edit->addAction(undo);
    edit->addAction(redo);
    edit->addSeparator();
    m_deleteAction = edit->addAction(tr("&Delete Node"), this, &MainWindow::deleteSelection);
    m_deleteAction->setShortcut(QKeySequence::Delete);
    m_renameAction = edit->addAction(tr("Re&name Node"), this, &MainWindow::renameSelection);
    m_renameAction->setShortcut(QKeySequence(Qt::Key_F2));
    m_identityAction =
        edit->addAction(tr("Insert &Identity After Node"), this, &MainWindow::insertIdentity);
    m_identityAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_I));
    m_addOperatorAction = edit->addAction(tr("&Add Operator…"), this, [this] {
        m_palette->focusSearch();
        // Wide enough for the schema's type lists.
        if (!m_palette->isFloating() && m_palette->width() < 280)
            resizeDocks({m_palette}, {280}, Qt::Horizontal);
    });
    m_addOperatorAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_A));
    m_addOperatorAction->setStatusTip(
        tr("Pick an ONNX operator of the model's opset: Enter adds it after the selected node, "
           "or drag it onto a wire"));
    m_addInputAction = edit->addAction(tr("Add Model &Input…"), this, &MainWindow::addModelInput);
    m_addInputAction->setStatusTip(tr("Add a graph input (name, element type and shape)"));
    m_batchSizeAction = edit->addAction(tr("Set &Batch Size…"), this, &MainWindow::setBatchSize);
    m_batchSizeAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_B));
    m_batchSizeAction->setStatusTip(
        tr("Set dim 0 of every model input (a number, or a symbol such as N); shapes are "
           "inferred again at once"));
    edit->addSeparator();
    m_cleanupAction = edit->addAction(tr("&Clean Up Dead Nodes and Initializers"), this,
                                      [this] { applyNamedEdit(rewrite::cleanupEdit()); });
    m_cleanupAction->setStatusTip(
        tr("Erase the nodes whose outputs nothing reads, then the initializers nothing reads"));
    m_dedupeAction = edit->addAction(tr("&Deduplicate Initializers"), this,
                                     [this] { applyNamedEdit(rewrite::dedupeInitializersEdit()); });
    m_dedupeAction->setStatusTip(tr("Make initializers with equal type, shape and bytes one"));
    m_foldAction = edit->addAction(tr("&Fold Constants"), this, [this] {
        QGuiApplication::setOverrideCursor(Qt::WaitCursor);
        applyNamedEdit(rewrite::foldConstantsEdit(m_doc->model().opsetVersion("")));
        QGuiApplication::restoreOverrideCursor();
    });
    m_foldAction->setStatusTip(
        tr("Compute once every node that reads only constants (and Shape of a known shape); "
           "what other nodes read becomes initializers"));
    edit->addSeparator();
    edit->addAction(m_view->selectAllAction());  // Ctrl+A
    // The graph's context menus offer the same edits (one undo step each) on the clicked node.
    m_view->setNodeMenuActions({m_deleteAction, m_renameAction, m_identityAction, m_extractAction});
    m_view->setCanvasMenuActions({m_addInputAction, m_batchSizeAction, m_exportViewAction});
    m_view->setTensorMenuProvider([this](QMenu& menu, const std::vector<std::string>& tensors) {
        fillTensorMenu(menu, tensors);
    });

    m_viewMenu = menuBar()->addMenu(tr("&View"));
    m_viewMenu->addAction(m_view->fitAction());       // Ctrl+0
    m_viewMenu->addAction(m_view->fitWidthAction());  // Ctrl+9
    QAction* zoomIn = m_viewMenu->addAction(tr("Zoom &In"), m_view, &GraphView::zoomIn);
    zoomIn->setShortcuts({QKeySequence::ZoomIn, QKeySequence(Qt::CTRL | Qt::Key_Equal)});
    QAction* zoomOut = m_viewMenu->addAction(tr("Zoom &Out"), m_view, &GraphView::zoomOut);
    zoomOut->setShortcut(QKeySequence::ZoomOut);
    QAction* actual =
        m_viewMenu->addAction(tr("&Actual Size"), m_view, [this] { m_view->setZoom(1.0); });
    actual->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_1));
    m_viewMenu->addAction(m_view->findAction());  // Ctrl+F: search bar over the view
    m_viewMenu->addAction(m_view->findNextAction());
    m_viewMenu->addAction(m_view->findPreviousAction());
    m_viewMenu->addSeparator();
    for (QDockWidget* dock : m_docks) m_viewMenu->addAction(dock->toggleViewAction());

    QMenu* tools = menuBar()->addMenu(tr("&Tools"));
    m_profileAction = tools->addAction(tr("&Profile Model"), this, [this] {
        m_profiler->show();
        m_profiler->raise();
        if (!m_profiler->isFloating() && m_profiler->height() < kBottomToolMinHeight)
            resizeDocks({m_profiler}, {kBottomToolMinHeight}, Qt::Vertical);
        m_profiler->profile();
    });
    m_profileAction->setObjectName(QStringLiteral("ProfileModelAction"));
    m_profileAction->setShortcut(QKeySequence(Qt::Key_F6));
    m_profileAction->setStatusTip(
        tr("Time every node of the model as it is now (Profiler dock; runs in the background)"));

    QAction* sensitivityAction = tools->addAction(tr("Layer &Sensitivity"), this, [this] {
        m_sensitivity->show();
        m_sensitivity->raise();
        if (!m_sensitivity->isFloating() && m_sensitivity->height() < kBottomToolMinHeight)
            resizeDocks({m_sensitivity}, {kBottomToolMinHeight}, Qt::Vertical);
        m_sensitivity->measure();
    });
    sensitivityAction->setObjectName(QStringLiteral("LayerSensitivityAction"));
    sensitivityAction->setShortcut(QKeySequence(Qt::Key_F7));
    sensitivityAction->setStatusTip(
        tr("Compress each layer of the Algorithm dock's scope alone and rank what each costs "
           "(Sensitivity dock; runs in the background)"));

    m_runAlgorithmAction = tools->addAction(tr("&Compress…"), this, [this] {
        m_algorithm->show();
        m_algorithm->raise();
        m_algorithm->run();
    });
    m_runAlgorithmAction->setObjectName(QStringLiteral("RunAlgorithmAction"));
    m_runAlgorithmAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_runAlgorithmAction->setStatusTip(
        tr("Run the Algorithm dock's algorithm on the model: apply, train, convert, export, "
           "verify (in the background)"));

    m_compareAction = tools->addAction(tr("Compare &Float and Compressed"), this, [this] {
        if (isComparing())
            showGraph();
        else
            showComparison();
    });
    m_compareAction->setObjectName(QStringLiteral("CompareAction"));
    m_compareAction->setShortcut(QKeySequence(Qt::Key_F8));
    m_compareAction->setStatusTip(
        tr("The last run's original and compressed graphs side by side, matched node by node, "
           "what changed marked (F8 again: back to the graph)"));
    m_compareAction->setEnabled(false);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* shortcuts = help->addAction(tr("&Keyboard Shortcuts"), this, [this] {
        QDialog* dialog = createShortcutsDialog(this);
        dialog->show();
        dialog->raise();
    });
    shortcuts->setObjectName(QStringLiteral("KeyboardShortcutsAction"));
    QAction* about = help->addAction(tr("&About Whittle"), this, [this] {
        QDialog* dialog = createAboutDialog(this);
        dialog->show();
        dialog->raise();
    });
    about->setObjectName(QStringLiteral("AboutAction"));
    about->setMenuRole(QAction::AboutRole);
    rebuildRecentMenu();
}

// ---- Settings ------------------------------------------------------------------------------

void MainWindow::restoreSettings() {
    if (m_settingsMode != SettingsMode::kPersist) return;
    QSettings settings;
    restoreGeometry(settings.value(kGeometryKey).toByteArray());
    restoreState(settings.value(kStateKey).toByteArray(), kStateVersion);
    m_recentFiles = settings.value(kRecentKey).toStringList();
}

void MainWindow::saveSettings() {
    if (m_settingsMode != SettingsMode::kPersist) return;
    QSettings settings;
    settings.setValue(kGeometryKey, saveGeometry());
    settings.setValue(kStateKey, saveState(kStateVersion));
    settings.setValue(kRecentKey, m_recentFiles);
}

QStringList MainWindow::recentFiles() const {
    return m_recentFiles;
}

void MainWindow::addRecentFile(const QString& path) {
    const QString absolute = QFileInfo(path).absoluteFilePath();
    if (m_settingsMode == SettingsMode::kPersist) {
        // Another window may have added files since: start from what is stored.
        QSettings settings;
        m_recentFiles = settings.value(kRecentKey).toStringList();
    }
    m_recentFiles.removeAll(absolute);
    m_recentFiles.prepend(absolute);
    while (m_recentFiles.size() > kMaxRecentFiles) m_recentFiles.removeLast();
    if (m_settingsMode == SettingsMode::kPersist) {
        QSettings settings;
        settings.setValue(kRecentKey, m_recentFiles);
        settings.setValue(kLastDirKey, QFileInfo(absolute).absolutePath());
    }
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    for (const QString& path : m_recentFiles) {
        QAction* action = m_recentMenu->addAction(QFileInfo(path).fileName(), this,
                                                  [this, path] { openFile(path); });
        action->setToolTip(path);
        action->setStatusTip(path);
    }
    if (m_recentFiles.isEmpty()) {
        m_recentMenu->addAction(tr("(none)"))->setEnabled(false);
        return;
    }
    m_recentMenu->addSeparator();
    m_recentMenu->addAction(tr("Clear Recent Files"), this, [this] {
        m_recentFiles.clear();
        if (m_settingsMode == SettingsMode::kPersist)
            QSettings().setValue(kRecentKey, m_recentFiles);
    });
}

// ---- Opening -------------------------------------------------------------------------------

void MainWindow::openWithDialog() {
    const QString current = filePath();
    QString dir = current.isEmpty() ? QString() : QFileInfo(current).absolutePath();
    if (dir.isEmpty() && m_settingsMode == SettingsMode::kPersist)
        dir = QSettings().value(kLastDirKey).toString();
    QString path = QFileDialog::getOpenFileName(this, tr("Open Model"), dir,
                                                tr("ONNX models (*.onnx);;All files (*)"));
    if (!path.isEmpty()) openFile(path);
}

void MainWindow::openFile(const QString& requested) {
    // Absolute from here on: the title, the inspector and recent files must not depend on the
    // working directory.
    const QString path = QFileInfo(requested).absoluteFilePath();
    maybeSaveThen([this, path] { startOpen(path); });
}

void MainWindow::startOpen(const QString& path) {
    // A newer open supersedes an older one: the older job is cancelled and changes nothing.
    if (m_openJob) m_openJob->cancel();
    const QString name = QFileInfo(path).fileName();
    statusBar()->showMessage(tr("Opening %1…").arg(path));
    const layout::LayoutOptions options = m_view->layoutOptions();  // fonts: GUI thread only
    const qreal dpr = m_view->devicePixelRatioF();

    Job* job = m_runner->run(
        tr("Open %1").arg(name),
        [path, options, dpr](jobs::JobContext& ctx) -> Expected<OpenResult> {
            // Parsing is not cancellable midway; its result is dropped if cancel came meanwhile.
            ctx.setProgress(0.02, "reading file");
            Expected<ir::Model> loaded = onnx::loadModel(toPath(path));
            if (!loaded) return tl::unexpected(loaded.error());
            WH_RETURN_IF_ERROR(ctx.checkCancelled());
            if (!loaded->graph)
                return error(StatusCode::kBadInput, "{}: the model has no graph",
                             path.toStdString());
            OpenResult result;
            result.model = std::make_shared<ir::Model>(std::move(*loaded));
            ctx.setProgress(0.45, "checking");
            result.issues = checkModel(*result.model->graph);
            WH_RETURN_IF_ERROR(ctx.checkCancelled());
            ctx.setProgress(0.5, "copying for the view");
            auto snapshot = std::make_shared<const ir::Model>(result.model->clone());
            WH_RETURN_IF_ERROR(ctx.checkCancelled());
            ctx.setProgress(0.6, "laying out");
            WH_ASSIGN_OR_RETURN(result.view, layoutJob(std::move(snapshot), options, dpr, ctx));
            return result;
        });
    m_openJob = job;
    connect(job, &Job::finished, this, [this, job, path, name] {
        // Two event-loop turns, so that installing the document and building the view of a big
        // graph do not add up to one long stall of the GUI thread.
        auto result = std::make_shared<OpenResult>(std::move(*job->result<OpenResult>()));
        job->releaseResult();
        auto doc = std::make_unique<Document>(std::move(*result->model), path);
        doc->setSnapshot(result->view.snapshot);
        addRecentFile(path);
        installDocument(std::move(doc));
        Document* installed = m_doc;
        QTimer::singleShot(0, this, [this, result, installed, path, name] {
            if (installed != m_doc) return;  // replaced meanwhile
            showOpened(*result, path, name);
        });
    });
    connect(job, &Job::failed, this, [this, name](const Status& status) {
        reportError(qs(status.message()));
        statusBar()->showMessage(tr("Could not open %1").arg(name));
        emit loadFailed(qs(status.message()));
    });
    connect(job, &Job::cancelled, this, [this, job, name] {
        if (m_openJob == job) statusBar()->showMessage(tr("Opening %1 cancelled").arg(name));
    });
    connect(job, &Job::ended, this, [this] { updateActions(); });
    updateActions();
}

void MainWindow::showOpened(OpenResult& result, const QString& path, const QString& name) {
    m_view->setOpset(result.view.snapshot->opsetVersion(""));
    m_view->setGraph(
        std::shared_ptr<const ir::Graph>(result.view.snapshot, result.view.snapshot->graph.get()),
        std::move(result.view.scene));
    m_view->showInitialView();
    // What the open job's check found; the live validation replaces them once it has also
    // run the ONNX checker.
    if (!result.issues.empty()) {
        std::vector<IssuesDock::Finding> findings;
        for (const ModelIssue& issue : result.issues)
            findings.push_back({issue.error ? IssuesDock::Severity::kError
                                            : IssuesDock::Severity::kWarning,
                                tr("%1: %2").arg(name, qs(issue.message)),
                                issue.node ? std::optional<ir::NodeId>(issue.node) : std::nullopt,
                                {}});
        m_issues->setValidationFindings(findings);
        m_issues->show();
        m_issues->raise();
    }
    m_summaryName = name;
    m_layoutSeconds = result.view.seconds;
    updateSummary();
    startShapeInference();
    startValidation();
    // "Opening …" and an earlier "Could not open …" are over.
    statusBar()->clearMessage();
    emit modelLoaded(path);
    emit viewReady();
}

void MainWindow::setModel(ir::Model model, const QString& path) {
    if (m_openJob) m_openJob->cancel();  // a load still running must not replace this model
    installDocument(std::make_unique<Document>(std::move(model), path));
    m_view->clear(tr("Laying out…"));
    startLayout(false);
    startShapeInference();
}

void MainWindow::installDocument(std::unique_ptr<Document> doc) {
    if (m_layoutJob) m_layoutJob->cancel();
    if (m_shapeJob) m_shapeJob->cancel();
    if (m_validationJob) m_validationJob->cancel();
    setShapes(nullptr);  // the old model's, keyed by names that may mean other tensors here
    m_validationProblems.clear();  // node ids of another model
    m_shapeProblems.clear();
    m_view->setProblemNodes({});
    Document* old = m_doc;
    m_doc = doc.release();
    m_doc->setParent(this);
    showGraph();  // a new document is seen first (the comparison stays one F8 away)
    // The old document's issues go with it (their node ids would name unrelated nodes here).
    m_issues->startDocument();
    // The view switches to the new selection before the old one (and its document) goes.
    m_view->setSelectionModel(m_doc->selection());
    m_profiler->setDocument(m_doc);
    m_algorithm->setDocument(m_doc);
    m_visualization->setDocument(m_doc);
    m_sensitivity->setDocument(m_doc);
    m_summary->setHistory(m_runHistory.get(), m_doc ? m_doc->filePath() : QString());
    if (old) {
        m_undoGroup->removeStack(old->undoStack());
        delete old;
    }
    m_undoGroup->addStack(m_doc->undoStack());
    m_undoGroup->setActiveStack(m_doc->undoStack());
    connect(m_doc, &Document::changed, this, &MainWindow::onDocumentChanged);
    connect(m_doc->selection(), &SelectionModel::changed, this, [this] {
        // The view's nodeSelected may have shown the node already: do not rebuild (and restart
        // a statistics job) for nothing. A summary of several nodes follows every change.
        const SelectionModel* sel = m_doc->selection();
        if (sel->size() > 1 || m_inspector->shownSelectionSize() > 0 ||
            m_inspector->shownNode() != sel->current())
            refreshInspector();
        updateSelectionStatus();
        updateActions();
    });
    connect(m_doc, &Document::dirtyChanged, this, [this] { updateTitle(); });
    connect(m_doc, &Document::undoFailed, this,
            [this](const QString& message) { reportError(message); });
    m_inspector->showModel(m_doc->model(), m_doc->filePath());
    m_view->setOpset(m_doc->model().opsetVersion(""));
    m_palette->setOpset(m_doc->model().opsetVersion(""));
    m_inspector->setOpset(m_doc->model().opsetVersion(""));
    m_summaryLabel->clear();      // until the new model is laid out
    statusBar()->clearMessage();  // an earlier "Could not open …" is about another model
    updateSelectionStatus();
    updateTitle();
    updateActions();
}

void MainWindow::startLayout(bool keepView) {
    if (m_layoutJob) m_layoutJob->cancel();
    if (!m_doc) return;
    Document* doc = m_doc;
    const quint64 revision = doc->revision();
    // The job copies the model (off the GUI thread) unless a snapshot of it exists already.
    Document::SnapshotTask snapshotTask = doc->snapshotTask();
    const layout::LayoutOptions options = m_view->layoutOptions();  // fonts: GUI thread only
    const qreal dpr = m_view->devicePixelRatioF();
    Job* job = m_runner->run(
        tr("Layout of %n node(s)", nullptr, static_cast<int>(doc->graph().numNodes())),
        [snapshotTask = std::move(snapshotTask), options,
         dpr](jobs::JobContext& ctx) -> Expected<LayoutResult> {
            ctx.setProgress(0.0, "copying");
            std::shared_ptr<const ir::Model> snapshot = snapshotTask();
            if (!snapshot) return error(StatusCode::kCancelled, "the model changed meanwhile");
            WH_RETURN_IF_ERROR(ctx.checkCancelled());
            ctx.setProgress(0.1, "laying out");
            return layoutJob(std::move(snapshot), options, dpr, ctx);
        });
    m_layoutJob = job;
    connect(job, &Job::finished, this, [this, job, doc, revision, keepView] {
        LayoutResult* result = job->result<LayoutResult>();
        // Only the layout of what the document is now may be shown.
        if (doc != m_doc || revision != m_doc->revision()) return;
        m_doc->setSnapshot(result->snapshot, revision);
        const QTransform transform = m_view->transform();
        const QPointF centre = m_view->mapToScene(m_view->viewport()->rect().center());
        m_view->setGraph(
            std::shared_ptr<const ir::Graph>(result->snapshot, result->snapshot->graph.get()),
            std::move(result->scene));
        if (keepView) {
            m_view->setTransform(transform);
            m_view->centerOn(centre);
        } else {
            m_view->showInitialView();
        }
        // Make sure the edited node shows as selected in the new scene.
        std::optional<ir::NodeId> current = m_doc->selection()->current();
        const bool reveal = std::exchange(m_revealAfterLayout, false);
        if (current && m_doc->selection()->size() == 1) m_view->selectNode(*current, reveal);
        const QString name =
            m_doc->filePath().isEmpty() ? tr("Untitled") : QFileInfo(m_doc->filePath()).fileName();
        m_summaryName = name;
        m_layoutSeconds = result->seconds;
        updateSummary();
        job->releaseResult();
        emit viewReady();
    });
    connect(job, &Job::failed, this,
            [this](const Status& status) { reportError(qs(status.message())); });
    connect(job, &Job::ended, this, [this] { updateActions(); });
}

bool MainWindow::isComparing() const {
    return m_centre->currentWidget() == m_compare;
}

bool MainWindow::showComparison() {
    const auto result = m_algorithm->lastResult();
    const auto input = m_algorithm->lastInput();
    if (!result || !input) {
        statusBar()->showMessage(
            tr("Nothing to compare yet: run an algorithm first (Algorithm dock, Ctrl+R)."), 5000);
        return false;
    }
    if (m_comparedResult != result) {
        m_comparedResult = result;
        m_compare->setModels(input, m_algorithm->lastInputName(),
                             std::shared_ptr<const ir::Model>(result, &result->model),
                             QFileInfo(m_algorithm->outputPath()).fileName());
        // setModels dropped the figures of the previous run: the error mode asks again (the
        // Visualization dock answers at once when it has them for this run).
        if (m_compare->mode() == ComparisonView::Mode::kError) m_visualization->ensureErrors();
    }
    m_centre->setCurrentWidget(m_compare);
    m_compare->setFocus();
    return true;
}

void MainWindow::showGraph() {
    m_centre->setCurrentWidget(m_view);
    m_view->setFocus();
}

// Above this much weight data the live validation leaves the ONNX checker to saving.
constexpr uint64_t kLiveCheckMaxWeightBytes = uint64_t{512} << 20;

void MainWindow::startValidation() {
    // One check at a time: checkModel and the ONNX checker cannot stop halfway, and checks
    // piling up after quick edits on a big graph would take the cores the edits need. A check
    // asked for while one runs starts when that one ends, on the model as it is then.
    if (m_validationJob && m_validationJob->isRunning()) {
        m_validationJob->cancel();
        m_validationPending = true;
        return;
    }
    m_validationPending = false;
    if (!m_doc) return;
    Document* doc = m_doc;
    const quint64 revision = doc->revision();
    Document::SnapshotTask snapshotTask = doc->snapshotTask();
    const QString name =
        doc->filePath().isEmpty() ? tr("Untitled") : QFileInfo(doc->filePath()).fileName();
    using Issues = std::vector<ModelIssue>;
    Job* job = m_runner->run(
        tr("Check %1").arg(name),
        [snapshotTask = std::move(snapshotTask)](jobs::JobContext& ctx) -> Expected<Issues> {
            ctx.setProgress(0.0, "copying");
            std::shared_ptr<const ir::Model> snapshot = snapshotTask();
            if (!snapshot) return error(StatusCode::kCancelled, "the model changed meanwhile");
            WH_RETURN_IF_ERROR(ctx.checkCancelled());
            ctx.setProgress(0.2, "checking");
            Issues issues;
            std::thread worker([&] {
                lowerCurrentThreadPriority();  // the GUI and the jobs the user waits for first
                issues = checkModel(*snapshot->graph);
                if (ctx.isCancelled()) return;
                // The checker reads a serialized copy: not of gigabytes of weights after every
                // edit (saving still checks).
                uint64_t weightBytes = 0;
                for (const ir::Value* v : snapshot->graph->initializers())
                    weightBytes += v->initializer()->byteSize();
                if (weightBytes > kLiveCheckMaxWeightBytes) return;
                for (ModelIssue& i : onnxCheckIssues(*snapshot)) issues.push_back(std::move(i));
            });
            worker.join();
            WH_RETURN_IF_ERROR(ctx.checkCancelled());
            return issues;
        });
    m_validationJob = job;
    connect(job, &Job::ended, this, [this] {
        if (m_validationPending) startValidation();
    });
    connect(job, &Job::finished, this, [this, job, doc, revision, name] {
        Issues* issues = job->result<Issues>();
        if (!issues || doc != m_doc || revision != m_doc->revision()) return;
        std::vector<IssuesDock::Finding> findings;
        m_validationProblems.clear();
        for (const ModelIssue& issue : *issues) {
            const ir::Node* n = issue.node ? m_doc->node(issue.node) : nullptr;
            findings.push_back({issue.error ? IssuesDock::Severity::kError
                                            : IssuesDock::Severity::kWarning,
                                tr("%1: %2").arg(name, qs(issue.message)),
                                n ? std::optional<ir::NodeId>(issue.node) : std::nullopt,
                                n ? qs(n->displayName()) : QString()});
            if (n && issue.error) m_validationProblems[issue.node] = qs(issue.message);
        }
        m_issues->setValidationFindings(findings);
        updateProblemBadges();
    });
}

void MainWindow::updateProblemBadges() {
    std::unordered_map<ir::NodeId, QString> problems = m_shapeProblems;
    for (const auto& [id, message] : m_validationProblems) {
        QString& text = problems[id];
        text = text.isEmpty() ? message : text + QStringLiteral("\n") + message;
    }
    m_view->setProblemNodes(std::move(problems));
}

void MainWindow::startShapeInference() {
    if (m_shapeJob) m_shapeJob->cancel();
    setShapes(nullptr);
    m_shapeProblems.clear();
    if (!m_doc) return;
    Document* doc = m_doc;
    const quint64 revision = doc->revision();
    Document::SnapshotTask snapshotTask = doc->snapshotTask();
    const QString name =
        doc->filePath().isEmpty() ? tr("Untitled") : QFileInfo(doc->filePath()).fileName();
    using Table = std::shared_ptr<const ShapeTable>;
    Job* job = m_runner->run(
        tr("Shapes of %1").arg(name),
        [snapshotTask = std::move(snapshotTask)](jobs::JobContext& ctx) -> Expected<Table> {
            ctx.setProgress(0.0, "copying");
            std::shared_ptr<const ir::Model> snapshot = snapshotTask();
            if (!snapshot) return error(StatusCode::kCancelled, "the model changed meanwhile");
            WH_RETURN_IF_ERROR(ctx.checkCancelled());
            ctx.setProgress(0.1, "compiling");
            // Shapes are a nicety: on a busy machine the GUI thread and the jobs the user waits
            // for (open, layout, save) go first. A thread of its own, so that lowering its
            // priority leaves the pool's threads as they were.
            Expected<ShapeTable> table = error(StatusCode::kInternal, "not run");
            std::thread worker([&] {
                lowerCurrentThreadPriority();
                table = ShapeTable::infer(*snapshot, &ctx);
            });
            worker.join();
            if (!table) return tl::unexpected(table.error());
            return std::make_shared<const ShapeTable>(std::move(*table));
        });
    m_shapeJob = job;
    connect(job, &Job::finished, this, [this, job, doc, revision] {
        Table* table = job->result<Table>();
        // Only the shapes of what the document is now may be shown.
        if (!table || doc != m_doc || revision != m_doc->revision()) return;
        setShapes(*table);
        job->releaseResult();
        emit shapesReady(true);
    });
    connect(job, &Job::failed, this, [this, doc, revision, name](const Status& status) {
        if (doc != m_doc || revision != m_doc->revision()) return;
        // Not an error of the model: the view just cannot say more than the file declares.
        // Listed, but the dock is not raised over what the user looks at.
        // The node where inference stopped (a type or dimension conflict there) gets a badge.
        const ir::NodeId at = nodeNamedIn(m_doc->graph(), status.message());
        const QString nodeName = at ? qs(m_doc->node(at)->displayName()) : QString();
        // A broken model (shapes that disagree, a missing input) is a warning; an operator
        // the engine lacks only limits what the view can say.
        const bool broken = status.code() == StatusCode::kBadInput;
        m_issues->addIssue(broken ? IssuesDock::Severity::kWarning : IssuesDock::Severity::kInfo,
                           tr("%1: tensor shapes could not be inferred (%2); shapes the file "
                              "does not declare show \"?\"")
                               .arg(name, qs(status.message())),
                           at ? std::optional<ir::NodeId>(at) : std::nullopt, nodeName);
        if (at && broken) m_shapeProblems[at] = qs(status.message());
        updateProblemBadges();
        emit shapesReady(false);
    });
}

void MainWindow::setShapes(std::shared_ptr<const ShapeTable> shapes) {
    if (shapes == m_shapes) return;
    m_shapes = std::move(shapes);
    m_view->setShapeTable(m_shapes);
    m_inspector->setShapeTable(m_shapes);  // rewrites the shown types in place
}

// ---- Export View ---------------------------------------------------------------------------

namespace {
QString describePlan(const GraphView::ExportPlan& plan) {
    QString text = QObject::tr("%1 × %2 px")
                       .arg(formatCount(plan.size.width()), formatCount(plan.size.height()));
    if (plan.capped)
        text += QObject::tr(", scaled down to %1 % (at most %2 px a side, %3 megapixels)")
                    .arg(std::max(1, qRound(plan.scale * 100)))
                    .arg(formatCount(GraphView::kMaxExportSide))
                    .arg(GraphView::kMaxExportPixels / 1'000'000);
    return text;
}
}  // namespace

QString MainWindow::suggestedExportViewPath(GraphView::ExportScope scope) const {
    const QString model = filePath();
    QString dir = model.isEmpty() ? QString() : QFileInfo(model).absolutePath();
    if (dir.isEmpty() && m_settingsMode == SettingsMode::kPersist)
        dir = QSettings().value(kLastDirKey).toString();
    if (dir.isEmpty()) dir = QDir::homePath();
    QString base = model.isEmpty() ? QStringLiteral("graph") : QFileInfo(model).completeBaseName();
    if (scope == GraphView::ExportScope::kVisibleArea) base += QStringLiteral("-view");
    if (scope == GraphView::ExportScope::kSelection) base += QStringLiteral("-selection");
    return QDir(dir).filePath(base + QStringLiteral(".png"));
}

void MainWindow::exportView() {
    if (!m_view->graph()) return;
    // What to export, each choice with the size of its picture.
    using Scope = GraphView::ExportScope;
    QList<Scope> scopes{Scope::kWholeGraph, Scope::kVisibleArea};
    QStringList items{tr("Whole graph (%1)").arg(describePlan(m_view->planExport(scopes[0]))),
                      tr("Visible area (%1)").arg(describePlan(m_view->planExport(scopes[1])))};
    const std::size_t selected = m_doc ? m_doc->selection()->size() : 0;
    const GraphView::ExportPlan selection = m_view->planExport(Scope::kSelection);
    if (selected > 0 && !selection.size.isEmpty()) {
        scopes << Scope::kSelection;
        items << tr("Selection, %n node(s) (%1)", nullptr, static_cast<int>(selected))
                     .arg(describePlan(selection));
    }
    bool ok = false;
    const QString choice =
        QInputDialog::getItem(this, tr("Export View"), tr("Export:"), items, 0, false, &ok);
    if (!ok) return;
    const Scope scope = scopes.value(std::max<int>(0, items.indexOf(choice)));
    QString path =
        QFileDialog::getSaveFileName(this, tr("Export View"), suggestedExportViewPath(scope),
                                     tr("PNG image (*.png);;SVG drawing (*.svg)"));
    if (path.isEmpty()) return;
    if (QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".png");
    exportViewTo(path, scope);
}

bool MainWindow::exportViewTo(const QString& path, GraphView::ExportScope scope) {
    QString error;
    GraphView::ExportPlan plan;
    if (!m_view->exportView(path, scope, &error, &plan)) {
        reportError(tr("Export View: %1").arg(error));
        return false;
    }
    const QString what = scope == GraphView::ExportScope::kWholeGraph    ? tr("the whole graph")
                         : scope == GraphView::ExportScope::kVisibleArea ? tr("the visible area")
                                                                         : tr("the selection");
    statusBar()->showMessage(tr("Exported %1 to %2 (%3)").arg(what, path, describePlan(plan)));
    return true;
}

// ---- Editing -------------------------------------------------------------------------------

void MainWindow::onDocumentChanged(std::optional<ir::NodeId> focus, const DocumentChange& change) {
    // Stale shapes must not be shown for what changed: "?" until they are inferred again.
    if (!change.onlyInitializerData()) setShapes(nullptr);
    if (focus && m_doc->node(*focus) && m_doc->selection()->current() != focus)
        m_doc->selection()->selectOnly(*focus);
    refreshInspector();
    updateTitle();
    updateActions();
    // Only weights changed (a training write-back): the scene shows nodes, edges and value
    // types, all as before, so keep it -- unless a layout of an earlier change is still
    // running, whose result will be dropped as stale.
    const bool layoutRunning = m_layoutJob && m_layoutJob->isRunning();
    if (!change.onlyInitializerData() || layoutRunning || !m_view->graph()) startLayout(true);
    // Shapes follow the structure (weights replaced in place change none).
    if (!change.onlyInitializerData()) startShapeInference();
    startValidation();
    emit documentChanged();
}

void MainWindow::refreshInspector() {
    if (!m_doc) {
        m_inspector->clear();
        return;
    }
    const SelectionModel* sel = m_doc->selection();
    if (sel->size() > 1) {
        m_inspector->showSelection(m_doc->graph(), sel->sortedIds());
        return;
    }
    // One node: the current one, or the one a rubber band caught (which sets no current).
    std::optional<ir::NodeId> current = sel->current();
    if (!current && sel->size() == 1) current = sel->sortedIds().front();
    // A node of an expanded If/Loop body is shown too (read from the model, not only the view).
    const ir::Node* node = current ? m_doc->nodeInModel(*current) : nullptr;
    if (node)
        m_inspector->showNode(*node);
    else
        m_inspector->showModel(m_doc->model(), m_doc->filePath());
}

void MainWindow::updateSelectionStatus() {
    const std::size_t n = m_doc ? m_doc->selection()->size() : 0;
    m_selectionLabel->setText(
        n == 0   ? QString()
        : n == 1 ? tr("1 node selected")
                 : tr("%1 nodes selected").arg(formatCount(static_cast<qulonglong>(n))));
}

QString MainWindow::statusSummary() const {
    return m_summaryLabel->text();
}

QString MainWindow::zoomStatus() const {
    return m_zoomLabel->text();
}

void MainWindow::updateZoomStatus() {
    m_zoomLabel->setText(m_view->graph() ? tr("Zoom %1 %").arg(qRound(m_view->zoom() * 100))
                                         : QString());
}

void MainWindow::updateSummary() {
    updateZoomStatus();
    if (!m_view->graph() || !m_view->currentLayout()) return;
    m_summaryLabel->setText(
        tr("%1 · %2").arg(m_summaryName, viewSummary(*m_view->graph(), *m_view->currentLayout(),
                                                     m_view->drawnNodeCount(), m_layoutSeconds)));
}

QString MainWindow::selectionStatus() const {
    return m_selectionLabel->text();
}

void MainWindow::deleteSelection() {
    if (!m_doc || m_doc->selection()->isEmpty()) return;
    std::vector<ir::NodeId> ids = m_doc->selection()->sortedIds();
    const ir::NodeId first = ids.front();
    const ir::Node* node = m_doc->node(first);
    const QString name = node ? qs(node->displayName()) : QString();
    Status status = m_doc->deleteNodes(ids);
    if (!status.isOk()) {
        reportIssue(static_cast<int>(IssuesDock::Severity::kError), qs(status.message()),
                    ids.size() == 1 ? std::optional<ir::NodeId>(first) : std::nullopt);
        return;
    }
    statusBar()->showMessage(m_doc->undoStack()->undoText());
}

void MainWindow::renameSelection() {
    if (!m_doc) return;
    std::optional<ir::NodeId> current = m_doc->selection()->current();
    if (!current || !m_doc->node(*current)) return;
    if (m_inspector->shownNode() != current) m_inspector->showNode(*m_doc->node(*current));
    if (auto* dock = qobject_cast<QDockWidget*>(m_inspector->parentWidget())) {
        dock->show();
        dock->raise();
    }
    m_inspector->editName();
}

bool MainWindow::renameNode(ir::NodeId id, const QString& name) {
    if (!m_doc) return false;
    Status status = m_doc->renameNode(id, name.toStdString());
    if (!status.isOk()) {
        reportError(qs(status.message()), id);
        refreshInspector();
        return false;
    }
    return true;
}

bool MainWindow::applyNamedEdit(const rewrite::Edit& edit) {
    if (!m_doc) return false;
    auto done = m_doc->applyEdit(edit);
    if (!done)
        reportError(qs(done.error().message()));
    else if (!done->summary.empty())
        statusBar()->showMessage(qs(done->summary), 15000);
    return done.has_value();
}

void MainWindow::fillTensorMenu(QMenu& menu, const std::vector<std::string>& tensors) {
    if (!m_doc) return;
    for (const std::string& name : tensors) {
        const ir::Value* v = m_doc->graph().findValue(name);
        if (!v) continue;
        const QString shown = qs(name);
        if (v->isGraphOutput()) {
            menu.addAction(tr("Remove '%1' from the Model Outputs").arg(shown), this,
                           [this, name] { applyNamedEdit(rewrite::removeOutputEdit(name)); })
                ->setObjectName(QStringLiteral("removeOutput"));
        } else {
            menu.addAction(tr("Make '%1' a Model Output").arg(shown), this,
                           [this, name] {
                               // An output needs a type: the inferred one when none is declared.
                               const ir::Value* v = m_doc->graph().findValue(name);
                               const ir::Type* type =
                                   v ? &displayType(*v, m_shapes.get()) : nullptr;
                               applyNamedEdit(rewrite::addOutputEdit(name, type));
                           })
                ->setObjectName(QStringLiteral("addOutput"));
        }
        if (v->isGraphInput() && !v->hasInitializer()) {
            menu.addAction(tr("Set Shape of '%1'…").arg(shown), this,
                           [this, shown] { setInputShape(shown); })
                ->setObjectName(QStringLiteral("setInputShape"));
            if (!v->hasUses() && !v->isGraphOutput())
                menu.addAction(tr("Remove Model Input '%1'").arg(shown), this,
                               [this, name] { applyNamedEdit(rewrite::removeInputEdit(name)); })
                    ->setObjectName(QStringLiteral("removeInput"));
        }
        menu.addAction(tr("Rename Tensor '%1'…").arg(shown), this,
                       [this, name, shown] {
                           const std::optional<QString> to = m_askText(
                               tr("Rename Tensor"), tr("New name for '%1':").arg(shown), shown);
                           if (to && !to->isEmpty() && *to != shown)
                               applyNamedEdit(rewrite::renameTensorEdit(name, to->toStdString()));
                       })
            ->setObjectName(QStringLiteral("renameTensor"));
    }
}

bool MainWindow::setInputShape(const QString& tensor) {
    if (!m_doc) return false;
    const ir::Value* v = m_doc->graph().findValue(tensor.toStdString());
    if (!v || !v->isGraphInput()) return false;
    const std::optional<QString> text = m_askText(
        tr("Set Input Shape"),
        tr("Dims of '%1' (numbers, symbols such as batch, or ?), separated by commas:")
            .arg(tensor),
        dimsText(v->type));
    if (!text) return false;
    QString why;
    const auto dims = parseDims(*text, &why);
    if (!dims) {
        reportError(tr("Shape of '%1' not changed: %2").arg(tensor, why));
        return false;
    }
    return applyNamedEdit(rewrite::setInputShapeEdit(tensor.toStdString(), *dims));
}

bool MainWindow::setBatchSize() {
    if (!m_doc) return false;
    QString current;
    for (const ir::Value* v : m_doc->graph().inputs())
        if (!v->hasInitializer() && v->type.shape && !v->type.shape->dims.empty()) {
            current = dimsText(v->type).section(QStringLiteral(", "), 0, 0);
            break;
        }
    const std::optional<QString> text = m_askText(
        tr("Set Batch Size"), tr("Dim 0 of every model input (a number, or a symbol such as N):"),
        current);
    if (!text || text->trimmed().isEmpty()) return false;
    bool isNumber = false;
    const qlonglong n = text->trimmed().toLongLong(&isNumber);
    const nlohmann::json size = isNumber ? nlohmann::json(n) : nlohmann::json(text->trimmed().toStdString());
    return applyNamedEdit(rewrite::setBatchSizeEdit(size));
}

bool MainWindow::addModelInput() {
    if (!m_doc) return false;
    const std::optional<QString> text =
        m_askText(tr("Add Model Input"),
                  tr("Name, element type and dims, e.g. mask: int64[batch, 128]:"),
                  QStringLiteral("input_%1: float[1]").arg(m_doc->graph().inputs().size()));
    if (!text) return false;
    static const QRegularExpression kSpec(
        QStringLiteral("^\\s*([^:\\s]+)\\s*:\\s*([A-Za-z0-9]+)\\s*(\\[.*\\])?\\s*$"));
    const QRegularExpressionMatch m = kSpec.match(*text);
    std::optional<ir::DType> dtype;
    if (m.hasMatch())
        for (int code = 1; code <= 16; ++code)
            if (ir::isKnownDType(code) &&
                QString::fromStdString(std::string(ir::dtypeName(static_cast<ir::DType>(code)))) ==
                    m.captured(2))
                dtype = static_cast<ir::DType>(code);
    if (!m.hasMatch() || !dtype) {
        reportError(tr("No input added: write name: type[dims], e.g. mask: int64[batch, 128] "
                       "(types as in float, int64, uint8, float16)"));
        return false;
    }
    QString why;
    const auto dims = parseDims(m.captured(3), &why);
    if (!dims) {
        reportError(tr("No input added: %1").arg(why));
        return false;
    }
    return applyNamedEdit(rewrite::addInputEdit(m.captured(1).toStdString(), *dtype, *dims));
}

bool MainWindow::addOperator(const QString& opType, const QStringList& tensors) {
    if (!m_doc) return false;
    const ir::Graph& g = m_doc->graph();
    const std::string op = opType.toStdString();
    const int64_t opset = m_doc->model().opsetVersion("");
    const std::optional<onnx::OpSchema> schema = onnx::findOperatorSchema(op, "", opset);
    if (!schema) {
        reportError(tr("Opset %1 has no operator '%2'").arg(opset).arg(opType));
        return false;
    }
    // Required attributes get a value of their type: the node is complete, the inspector
    // edits it.
    std::vector<ir::Attribute> attributes;
    for (const onnx::OpAttribute& a : schema->attributes)
        if (a.required) attributes.push_back(onnx::placeholderAttribute(a, op));
    rewrite::Edit edit;
    const std::optional<ir::NodeId> current = m_doc->selection()->current();
    const ir::Node* after = current && m_doc->selection()->size() == 1 ? m_doc->node(*current)
                                                                        : nullptr;
    if (!tensors.isEmpty()) {
        edit = rewrite::addNodeOnEdgeEdit(g, op, "", tensors.front().toStdString(), nullptr,
                                          attributes);
    } else if (after && after->numOutputs() > 0 && after->output(0) && !schema->inputs.empty()) {
        edit = rewrite::addNodeOnEdgeEdit(g, op, "", after->output(0)->name(), nullptr,
                                          attributes);
    } else {
        // Its formal inputs, all omitted: each has a port to connect, in any order.
        edit = rewrite::addNodeEdit(op, "", "", std::vector<std::string>(schema->inputs.size()),
                                    std::max(1, schema->minOutputs), attributes);
    }
    auto done = m_doc->applyEdit(edit);
    if (!done) {
        reportError(qs(done.error().message()));
        return false;
    }
    if (done->created) {
        m_revealAfterLayout = true;
        m_doc->selection()->selectOnly(*done->created);
    }
    statusBar()->showMessage(qs(done->label), 4000);
    return true;
}

QString MainWindow::connectionProblem(ir::NodeId id, int input, const QString& tensor) const {
    if (!m_doc) return tr("No model");
    const ir::Node* node = m_doc->node(id);
    const ir::Value* value = m_doc->graph().findValue(tensor.toStdString());
    if (!node || !value) return tr("The node or the tensor no longer exists");
    const auto schema =
        onnx::findOperatorSchema(node->opType, node->domain, m_doc->model().opsetVersion(""));
    if (!schema) return {};  // an op the library does not know: nothing to check against
    const ir::Type& type = displayType(*value, m_shapes.get());
    if (!type.isTensor() || type.elemType == ir::DType::kUndefined) return {};
    const std::vector<std::string> allowed = schema->allowedInputTypes(input);
    const std::string have = onnx::onnxTypeString(type.elemType);
    if (allowed.empty() || std::find(allowed.begin(), allowed.end(), have) != allowed.end())
        return {};
    QStringList names;
    for (const std::string& t : allowed) {
        QString n = qs(t);
        if (n.startsWith(QLatin1String("tensor(")) && n.endsWith(QLatin1Char(')')))
            n = n.mid(7, n.size() - 8);
        names << n;
    }
    const QString inputName = input < static_cast<int>(schema->inputs.size())
                                  ? qs(schema->inputs[static_cast<std::size_t>(input)].name)
                                  : qs(schema->inputs.back().name);
    return tr("'%1' is %2, but input %3 (%4) of %5 '%6' takes %7")
        .arg(tensor, qs(std::string(ir::dtypeName(type.elemType))))
        .arg(input)
        .arg(inputName, qs(node->opType), qs(node->displayName()), names.join(QStringLiteral(", ")));
}

void MainWindow::warnOnNode(ir::NodeId node, const QString& text) {
    statusBar()->showMessage(text, 10000);
    reportIssue(static_cast<int>(IssuesDock::Severity::kWarning), text, node);
}

QString MainWindow::shapeChange(ir::NodeId id, int input, const QString& tensor) const {
    const ir::Node* node = m_doc ? m_doc->node(id) : nullptr;
    const ir::Value* value = m_doc ? m_doc->graph().findValue(tensor.toStdString()) : nullptr;
    if (!node || !value || input >= node->numInputs() || !node->input(input)) return {};
    const ir::Value* before = node->input(input);
    const ir::Type& was = displayType(*before, m_shapes.get());
    const ir::Type& now = displayType(*value, m_shapes.get());
    if (before == value || !was.shape || !now.shape) return {};
    bool differs = was.shape->rank() != now.shape->rank();
    for (std::size_t i = 0; !differs && i < was.shape->dims.size(); ++i) {
        const ir::Dim& a = was.shape->dims[i];
        const ir::Dim& b = now.shape->dims[i];
        differs = a.isKnown() && b.isKnown() && a.value != b.value;
    }
    if (!differs) return {};
    return tr("'%1' is %2 where input %3 of %4 '%5' read %6 ('%7'); ONNX allows it, the shapes "
              "are inferred again")
        .arg(tensor, qs(now.toString()))
        .arg(input)
        .arg(qs(node->opType), qs(node->displayName()), qs(was.toString()), qs(before->name()));
}

bool MainWindow::connectInput(ir::NodeId id, int input, const QString& tensor) {
    if (!m_doc || !m_doc->node(id)) return false;
    if (const QString problem = connectionProblem(id, input, tensor); !problem.isEmpty()) {
        warnOnNode(id, tr("Not connected: %1").arg(problem));
        return false;
    }
    // A different shape is allowed (the operator may take it), with a warning.
    const QString reshaped = shapeChange(id, input, tensor);
    if (!applyNamedEdit(
            rewrite::setInputEdit(m_doc->graph(), *m_doc->node(id), input, tensor.toStdString())))
        return false;
    if (!reshaped.isEmpty()) warnOnNode(id, tr("Connected, with another shape: %1").arg(reshaped));
    return true;
}

bool MainWindow::rewireInput(ir::NodeId from, int fromInput, ir::NodeId to, int toInput,
                             const QString& tensor) {
    if (!m_doc || !m_doc->node(from) || !m_doc->node(to)) return false;
    if (const QString problem = connectionProblem(to, toInput, tensor); !problem.isEmpty()) {
        warnOnNode(to, tr("Not moved: %1").arg(problem));
        return false;
    }
    const QString reshaped = shapeChange(to, toInput, tensor);
    const ir::Graph& g = m_doc->graph();
    const std::vector<rewrite::Edit> edits{
        rewrite::setInputEdit(g, *m_doc->node(from), fromInput, ""),
        rewrite::setInputEdit(g, *m_doc->node(to), toInput, tensor.toStdString())};
    Status s = m_doc->applyEdits(
        fmt::format("Move '{}' from {} to {}", tensor.toStdString(),
                    m_doc->node(from)->displayName(), m_doc->node(to)->displayName()),
        edits);
    if (!s.isOk()) {
        reportError(qs(s.message()), to);
        return false;
    }
    if (!reshaped.isEmpty()) warnOnNode(to, tr("Moved, with another shape: %1").arg(reshaped));
    return true;
}

bool MainWindow::disconnectInput(ir::NodeId id, int input) {
    if (!m_doc || !m_doc->node(id)) return false;
    return applyNamedEdit(rewrite::setInputEdit(m_doc->graph(), *m_doc->node(id), input, ""));
}

void MainWindow::insertIdentity() {
    if (!m_doc) return;
    std::optional<ir::NodeId> current = m_doc->selection()->current();
    if (!current) return;
    Expected<ir::NodeId> created = m_doc->insertIdentityAfter(*current);
    if (!created) reportError(qs(created.error().message()), *current);
}

bool MainWindow::editAttribute(ir::NodeId id, const QString& name, const QString& text) {
    if (!m_doc) return false;
    const ir::Node* node = m_doc->node(id);
    const ir::Attribute* current = node ? node->attribute(name.toStdString()) : nullptr;
    Status status;
    if (!current) {
        status = makeStatus(StatusCode::kUsage, "node #{} has no attribute '{}'", id,
                            name.toStdString());
    } else {
        Expected<ir::Attribute> parsed = parseAttributeValue(*current, text);
        status = parsed ? m_doc->setAttribute(id, std::move(*parsed)) : parsed.error();
    }
    if (!status.isOk()) {
        reportError(qs(status.message()), id);
        refreshInspector();  // show the value as it still is
        return false;
    }
    return true;
}

void MainWindow::focusNode(ir::NodeId id) {
    if (!m_doc || !m_doc->node(id)) {
        statusBar()->showMessage(tr("That node no longer exists."));
        return;
    }
    m_view->selectNode(id, true);  // selects it alone (the document's selection) and centres it
    if (m_doc->selection()->current() != id) m_doc->selection()->selectOnly(id);
    refreshInspector();
}

// ---- Saving --------------------------------------------------------------------------------

void MainWindow::save() {
    if (!m_doc) return;
    if (m_doc->canSaveInPlace())
        saveTo(m_doc->filePath());
    else
        saveAs();  // never write over the opened file without the user picking it
}

void MainWindow::saveAs() {
    if (!m_doc) return;
    QString suggestion = m_doc->filePath().isEmpty()
                             ? QDir::home().filePath(QStringLiteral("model.onnx"))
                             : m_doc->filePath();
    // The file dialog asks before replacing an existing file: that is the confirmation.
    QString path = QFileDialog::getSaveFileName(this, tr("Save Model As"), suggestion,
                                                tr("ONNX models (*.onnx)"));
    if (path.isEmpty()) return;
    if (QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".onnx");
    saveTo(path);
}

void MainWindow::saveTo(const QString& path, std::function<void()> then) {
    startSaveJob(path, false, std::move(then));
}

void MainWindow::exportModel() {
    if (!m_doc) return;
    const QString path =
        askPathBeside(this, m_doc->filePath(), tr("Export Model"), QStringLiteral("-whittle.onnx"),
                      tr("ONNX models (*.onnx)"));
    if (!path.isEmpty()) exportTo(path);
}

void MainWindow::extractSelection() {
    if (!m_doc || m_doc->selection()->isEmpty()) return;
    const QString path =
        askPathBeside(this, m_doc->filePath(), tr("Extract Selection as Model"),
                      QStringLiteral("-extract.onnx"), tr("ONNX models (*.onnx)"));
    if (!path.isEmpty()) extractSelectionTo(path);
}

bool MainWindow::extractSelectionTo(const QString& path) {
    if (!m_doc || m_doc->selection()->isEmpty()) return false;
    const std::vector<ir::NodeId> ids = selectedMainGraphNodes();
    return writeExtracted(path, [&] { return rewrite::extractSelection(m_doc->model(), ids); });
}

std::vector<ir::NodeId> MainWindow::selectedMainGraphNodes() const {
    std::vector<ir::NodeId> ids;
    for (ir::NodeId id : m_doc->selection()->sortedIds())
        if (m_doc->node(id)) ids.push_back(id);  // not nodes of expanded bodies
    return ids;
}

bool MainWindow::extractBetweenTo(const QString& path, const std::vector<std::string>& inputs,
                                  const std::vector<std::string>& outputs) {
    if (!m_doc) return false;
    return writeExtracted(
        path, [&] { return rewrite::extractModel(m_doc->model(), inputs, outputs); });
}

void MainWindow::extractBetweenTensors() {
    if (!m_doc) return;
    // Filled in from the selection's boundary, else the model's own inputs and outputs.
    std::vector<std::string> ins, outs;
    const std::vector<ir::NodeId> ids = selectedMainGraphNodes();
    std::unique_ptr<ir::Model> part;
    if (!ids.empty()) part = rewrite::extractSelection(m_doc->model(), ids).value_or(nullptr);
    if (part) {
        for (const ir::Value* v : part->graph->inputs()) ins.push_back(v->name());
        for (const ir::Value* v : part->graph->outputs()) outs.push_back(v->name());
    } else {
        for (const ir::Value* v : m_doc->graph().inputs())
            if (!v->hasInitializer()) ins.push_back(v->name());
        for (const ir::Value* v : m_doc->graph().outputs()) outs.push_back(v->name());
    }
    auto joined = [](const std::vector<std::string>& names) {
        QStringList list;
        for (const std::string& n : names) list << qs(n);
        return list.join(QStringLiteral(", "));
    };
    auto split = [](const QString& text) {
        std::vector<std::string> names;
        for (const QString& n : text.split(QLatin1Char(','), Qt::SkipEmptyParts))
            if (!n.trimmed().isEmpty()) names.push_back(n.trimmed().toStdString());
        return names;
    };
    const QString title = tr("Extract Between Tensors");
    const std::optional<QString> in =
        m_askText(title, tr("Input tensors (comma separated; computation starts there):"),
                  joined(ins));
    if (!in) return;
    const std::optional<QString> out =
        m_askText(title, tr("Output tensors (comma separated; what the new model computes):"),
                  joined(outs));
    if (!out || split(*out).empty()) return;
    const QString path = askPathBeside(this, m_doc->filePath(), title,
                                       QStringLiteral("-extract.onnx"), tr("ONNX models (*.onnx)"));
    if (!path.isEmpty()) extractBetweenTo(path, split(*in), split(*out));
}

bool MainWindow::writeExtracted(
    const QString& path, const std::function<Expected<std::unique_ptr<ir::Model>>()>& extract) {
    if (!m_doc->sourcePath().isEmpty() &&
        QFileInfo(path).absoluteFilePath() == QFileInfo(m_doc->sourcePath()).absoluteFilePath()) {
        reportError(tr("Not extracted: %1 is the opened model, which is never written over")
                        .arg(path));
        return false;
    }
    QApplication::setOverrideCursor(Qt::WaitCursor);
    auto extracted = extract();
    if (extracted) {
        // A model's inputs and outputs need types: the inferred ones where none is declared.
        ir::Graph& g = *(*extracted)->graph;
        for (const auto* list : {&g.inputs(), &g.outputs()})
            for (ir::Value* v : *list)
                if (v->type.kind == ir::Type::Kind::kNone)
                    if (const ir::Value* source = m_doc->graph().findValue(v->name()))
                        v->type = displayType(*source, m_shapes.get());
    }
    Status saved = extracted ? onnx::saveModel(**extracted, toPath(path)) : extracted.error();
    QApplication::restoreOverrideCursor();
    if (!saved.isOk()) {
        reportError(tr("Not extracted: %1").arg(qs(saved.message())));
        return false;
    }
    const ir::Graph& g = *(*extracted)->graph;
    for (const ModelIssue& issue : onnxCheckIssues(**extracted))
        reportIssue(static_cast<int>(IssuesDock::Severity::kWarning),
                    tr("%1 (extracted): %2").arg(QFileInfo(path).fileName(), qs(issue.message)),
                    std::nullopt);
    statusBar()->showMessage(tr("Extracted %1 (%2 inputs, %3 outputs) to %4")
                                 .arg(formatNodeCount(g.numNodes(), g.numNodes()))
                                 .arg(g.inputs().size())
                                 .arg(g.outputs().size())
                                 .arg(path));
    return true;
}

void MainWindow::saveEditScript() {
    if (!m_doc) return;
    const QString path =
        askPathBeside(this, m_doc->sourcePath(), tr("Save Edit Script"),
                      QStringLiteral("-edits.json"), tr("Edit scripts (*.json)"));
    if (!path.isEmpty()) saveEditScriptTo(path);
}

bool MainWindow::saveEditScriptTo(const QString& path) {
    if (!m_doc) return false;
    auto script = m_doc->editScript();
    Status written =
        script ? util::writeAtomically(path.toStdString(), script->dump(2) + "\n") : script.error();
    if (!written.isOk()) {
        reportError(tr("Save Edit Script: %1").arg(qs(written.message())));
        return false;
    }
    statusBar()->showMessage(
        tr("Saved %n edit(s) to %1", nullptr, static_cast<int>((*script)["edits"].size()))
            .arg(path),
        5000);
    return true;
}

void MainWindow::exportTo(const QString& path) {
    if (m_doc && !m_doc->sourcePath().isEmpty() &&
        QFileInfo(path).absoluteFilePath() == QFileInfo(m_doc->sourcePath()).absoluteFilePath()) {
        const QString message =
            tr("Export never writes over the opened model %1; choose another file (or use Save "
               "As).")
                .arg(path);
        reportError(message);
        emit exportFinished(false, message);
        return;
    }
    startSaveJob(path, true, {});
}

void MainWindow::startSaveJob(const QString& path, bool isExport, std::function<void()> then,
                              bool force) {
    if (!m_doc) return;
    Document* doc = m_doc;
    const int undoIndex = doc->undoStack()->index();
    // Usually cached: the relayout after the last edit made it. The save must be of this very
    // revision (markSaved cleans it), so a missing one is copied here rather than by a task.
    std::shared_ptr<const ir::Model> snapshot = doc->snapshot();
    const QString name = QFileInfo(path).fileName();
    ++m_saving;
    updateActions();
    // Written, or the ONNX checker's objection (nothing written).
    struct Outcome {
        bool written = false;
        QString refusal;
    };
    Job* job = m_runner->run(
        (isExport ? tr("Export %1") : tr("Save %1")).arg(name),
        [snapshot, path, force](jobs::JobContext& ctx) -> Expected<Outcome> {
            if (!force) {
                ctx.setProgress(0.02, "checking");
                for (const ModelIssue& issue : onnxCheckIssues(*snapshot))
                    if (issue.error) return Outcome{false, qs(issue.message)};
                WH_RETURN_IF_ERROR(ctx.checkCancelled());
            }
            ctx.setProgress(0.05, "writing");
            WH_RETURN_IF_ERROR(onnx::saveModel(*snapshot, toPath(path)));
            return Outcome{true, {}};
        });
    auto finished = [this, isExport](bool ok, const QString& detail) {
        if (isExport)
            emit exportFinished(ok, detail);
        else
            emit saveFinished(ok, detail);
    };
    connect(job, &Job::finished, this, [=, this] {
        if (const Outcome* outcome = job->result<Outcome>(); outcome && !outcome->written) {
            const bool anyway =
                m_askSaveAnyway ? m_askSaveAnyway(outcome->refusal)
                                : QMessageBox::warning(
                                      this, isExport ? tr("Export") : tr("Save"),
                                      tr("The ONNX checker refuses this model, so other tools "
                                         "may not load it:\n\n%1\n\nWrite it anyway?")
                                          .arg(outcome->refusal),
                                      QMessageBox::Save | QMessageBox::Cancel,
                                      QMessageBox::Cancel) == QMessageBox::Save;
            if (anyway && doc == m_doc) {
                startSaveJob(path, isExport, then, /*force=*/true);
            } else {
                statusBar()->showMessage(tr("Not written: the ONNX checker refuses the model"));
                finished(false, tr("the ONNX checker refuses the model: %1").arg(outcome->refusal));
            }
            return;
        }
        if (!isExport && doc == m_doc) {
            m_doc->markSaved(path, undoIndex);
            updateTitle();
        }
        addRecentFile(path);
        statusBar()->showMessage((isExport ? tr("Exported %1") : tr("Saved %1")).arg(path));
        finished(true, path);
        if (then) then();
    });
    connect(job, &Job::failed, this, [=, this](const Status& status) {
        reportError(qs(status.message()));
        finished(false, qs(status.message()));
    });
    connect(job, &Job::cancelled, this, [=, this] {
        // saveModel writes a temporary file and renames it: cancelling leaves the target as it was.
        finished(false, tr("cancelled"));
    });
    connect(job, &Job::ended, this, [this] {
        --m_saving;
        updateActions();
    });
}

void MainWindow::maybeSaveThen(std::function<void()> then) {
    if (!m_doc || !m_doc->isDirty()) {
        then();
        return;
    }
    switch (askUnsaved()) {
        case UnsavedAnswer::kCancel:
            return;
        case UnsavedAnswer::kDiscard:
            then();
            return;
        case UnsavedAnswer::kSave:
            if (m_doc->canSaveInPlace()) {
                saveTo(m_doc->filePath(), std::move(then));
                return;
            }
            QString path = QFileDialog::getSaveFileName(
                this, tr("Save Model As"),
                m_doc->filePath().isEmpty() ? QDir::home().filePath(QStringLiteral("model.onnx"))
                                            : m_doc->filePath(),
                tr("ONNX models (*.onnx)"));
            if (path.isEmpty()) return;  // the dialog was cancelled: so is the whole action
            if (QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".onnx");
            saveTo(path, std::move(then));
            return;
    }
}

MainWindow::UnsavedAnswer MainWindow::askUnsaved() {
    if (m_askUnsaved) return m_askUnsaved();
    QMessageBox box(QMessageBox::Warning, tr("Unsaved changes"),
                    tr("%1 has unsaved changes.")
                        .arg(m_doc->filePath().isEmpty() ? tr("The model")
                                                         : QFileInfo(m_doc->filePath()).fileName()),
                    QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, this);
    box.setInformativeText(tr("Save them before going on?"));
    box.setDefaultButton(QMessageBox::Save);
    switch (box.exec()) {
        case QMessageBox::Save:
            return UnsavedAnswer::kSave;
        case QMessageBox::Discard:
            return UnsavedAnswer::kDiscard;
        default:
            return UnsavedAnswer::kCancel;
    }
}

// ---- Events and helpers --------------------------------------------------------------------

void MainWindow::closeEvent(QCloseEvent* event) {
    if (!m_closing && m_doc && m_doc->isDirty()) {
        // Ask; a save runs in the background, and closes the window again once it succeeded.
        event->ignore();
        maybeSaveThen([this] {
            m_closing = true;
            close();
        });
        return;
    }
    saveSettings();
    m_runner->cancelAll();
    QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    const QMimeData* mime = event->mimeData();
    if (mime->hasUrls())
        for (const QUrl& url : mime->urls())
            if (isOnnxUrl(url)) {
                event->acceptProposedAction();
                return;
            }
    event->ignore();
}

void MainWindow::dropEvent(QDropEvent* event) {
    for (const QUrl& url : event->mimeData()->urls())
        if (isOnnxUrl(url)) {
            event->acceptProposedAction();
            // Not inside the drop: opening may ask about unsaved changes first.
            const QString path = url.toLocalFile();
            QMetaObject::invokeMethod(
                this, [this, path] { openFile(path); }, Qt::QueuedConnection);
            return;
        }
    event->ignore();
}

void MainWindow::onNodeSelected(ir::NodeId id) {
    if (!m_doc || !m_doc->node(id)) return;
    if (m_inspector->shownNode() != id) refreshInspector();
    updateActions();
}

void MainWindow::reportError(const QString& message, std::optional<ir::NodeId> node) {
    reportIssue(static_cast<int>(IssuesDock::Severity::kError), message, node);
}

void MainWindow::reportIssue(int severity, const QString& message, std::optional<ir::NodeId> node) {
    QString nodeName;
    if (node && m_doc)
        if (const ir::Node* n = m_doc->node(*node)) nodeName = qs(n->displayName());
    m_issues->addIssue(static_cast<IssuesDock::Severity>(severity), message, node, nodeName);
    m_issues->show();
    m_issues->raise();
}

void MainWindow::updateTitle() {
    if (!m_doc) {
        setWindowTitle(QStringLiteral("Whittle"));
        return;
    }
    const QString path = m_doc->filePath();
    QString name = path.isEmpty() ? tr("Untitled") : QFileInfo(path).fileName();
    // "[*]" shows as "*" while the document has unsaved edits.
    setWindowTitle(QStringLiteral("%1[*] — Whittle").arg(name));
    setWindowModified(m_doc->isDirty());
    setWindowFilePath(path);
}

void MainWindow::updateActions() {
    const bool doc = m_doc != nullptr;
    m_saveAction->setEnabled(doc);
    m_saveAsAction->setEnabled(doc);
    m_exportAction->setEnabled(doc);
    m_editScriptAction->setEnabled(doc);
    m_extractAction->setEnabled(doc && !m_doc->selection()->isEmpty());
    m_extractBetweenAction->setEnabled(doc);
    m_cleanupAction->setEnabled(doc);
    m_dedupeAction->setEnabled(doc);
    m_foldAction->setEnabled(doc);
    m_addOperatorAction->setEnabled(doc);
    m_addInputAction->setEnabled(doc);
    m_batchSizeAction->setEnabled(doc);
    m_profileAction->setEnabled(doc);
    m_runAlgorithmAction->setEnabled(doc);
    // Edits (rename, insert Identity) take main-graph nodes; a node inside a body is read-only.
    const bool selected = doc && m_doc->selection()->current().has_value() &&
                          m_doc->node(*m_doc->selection()->current());
    bool topLevel = doc && !m_doc->selection()->isEmpty();
    if (topLevel)
        for (ir::NodeId id : m_doc->selection()->ids()) topLevel = topLevel && m_doc->node(id);
    m_deleteAction->setEnabled(topLevel);
    m_renameAction->setEnabled(selected);
    m_identityAction->setEnabled(selected);
}

}  // namespace wh::widgets
