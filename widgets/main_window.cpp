#include "widgets/main_window.h"

#include <chrono>
#include <filesystem>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QMenuBar>
#include <QMimeData>
#include <QSettings>
#include <QStatusBar>
#include <QtConcurrent/QtConcurrentRun>

#include "core/layout/graph_layout.h"
#include "core/onnx/model_io.h"
#include "widgets/graph_view.h"
#include "widgets/issues_dock.h"
#include "widgets/jobs_dock.h"
#include "widgets/node_inspector.h"
#include "widgets/placeholder_dock.h"

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

struct LoadResult {
    std::shared_ptr<ir::Model> model;
    QString error;
};

struct LayoutResult {
    std::shared_ptr<const layout::Layout> layout;
    double seconds = 0;
};

}  // namespace

MainWindow::MainWindow(SettingsMode settings, QWidget* parent)
    : QMainWindow(parent), m_settingsMode(settings) {
    setObjectName(QStringLiteral("MainWindow"));
    setAcceptDrops(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks |
                   QMainWindow::AllowNestedDocks);

    m_view = new GraphView(this);
    m_view->setObjectName(QStringLiteral("GraphView"));
    m_view->clear(tr("Open an ONNX model (Ctrl+O) or drop one here."));
    setCentralWidget(m_view);
    connect(m_view, &GraphView::nodeSelected, this, &MainWindow::onNodeSelected);
    connect(m_view, &GraphView::selectionCleared, this, [this] {
        if (m_model)
            m_inspector->showModel(*m_model, m_path);
        else
            m_inspector->clear();
    });

    createDocks();
    createMenus();
    statusBar()->showMessage(tr("Ready"));
    resize(1400, 900);
    restoreSettings();
    updateTitle();
    updateActions();
}

MainWindow::~MainWindow() {
    // Running jobs hold their own shared_ptrs; tell the layout to stop early, drop the rest.
    if (m_layoutCancel) m_layoutCancel->store(true);
}

// ---- Construction --------------------------------------------------------------------------

void MainWindow::createDocks() {
    m_inspector = new NodeInspector(this);
    auto* inspectorDock = new QDockWidget(tr("Node Inspector"), this);
    inspectorDock->setObjectName(QStringLiteral("NodeInspectorDock"));
    inspectorDock->setWidget(m_inspector);

    auto* algorithm = new PlaceholderDock(
        tr("Algorithm"), QStringLiteral("AlgorithmDock"),
        tr("Compression algorithms and their settings for the selected nodes will appear here."),
        this);
    auto* profiler = new PlaceholderDock(
        tr("Profiler"), QStringLiteral("ProfilerDock"),
        tr("Per-node latency, FLOPs, parameters and activation memory will appear here."), this);
    auto* summary = new PlaceholderDock(
        tr("Summary"), QStringLiteral("SummaryDock"),
        tr("Before/after size, latency and accuracy of the compressed model will appear here."),
        this);
    auto* visualization = new PlaceholderDock(
        tr("Visualization"), QStringLiteral("VisualizationDock"),
        tr("Weight and activation histograms of the selected node will appear here."), this);
    m_jobs = new JobsDock(this);
    m_issues = new IssuesDock(this);
    connect(m_issues, &IssuesDock::nodeRequested, this,
            [this](ir::NodeId id) { m_view->selectNode(id); });

    addDockWidget(Qt::RightDockWidgetArea, inspectorDock);
    addDockWidget(Qt::RightDockWidgetArea, algorithm);
    splitDockWidget(inspectorDock, algorithm, Qt::Vertical);
    addDockWidget(Qt::BottomDockWidgetArea, m_issues);
    addDockWidget(Qt::BottomDockWidgetArea, m_jobs);
    addDockWidget(Qt::BottomDockWidgetArea, profiler);
    addDockWidget(Qt::BottomDockWidgetArea, summary);
    addDockWidget(Qt::BottomDockWidgetArea, visualization);
    tabifyDockWidget(m_issues, m_jobs);
    tabifyDockWidget(m_jobs, profiler);
    tabifyDockWidget(profiler, summary);
    tabifyDockWidget(summary, visualization);
    m_issues->raise();
    resizeDocks({inspectorDock}, {420}, Qt::Horizontal);
    resizeDocks({inspectorDock, algorithm}, {560, 200}, Qt::Vertical);
    resizeDocks({m_issues}, {170}, Qt::Vertical);

    m_docks = {inspectorDock, algorithm, m_issues, m_jobs, profiler, summary, visualization};
}

void MainWindow::createMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open…"), this, &MainWindow::openWithDialog);
    open->setShortcut(QKeySequence::Open);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    connect(m_recentMenu, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
    file->addSeparator();
    m_saveAsAction = file->addAction(tr("Save &As…"), this, &MainWindow::saveAs);
    m_saveAsAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
    quit->setMenuRole(QAction::QuitRole);

    m_viewMenu = menuBar()->addMenu(tr("&View"));
    m_fitAction = m_viewMenu->addAction(tr("&Fit to Window"), m_view, &GraphView::fitToView);
    m_fitAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    QAction* zoomIn = m_viewMenu->addAction(tr("Zoom &In"), m_view, &GraphView::zoomIn);
    zoomIn->setShortcuts({QKeySequence::ZoomIn, QKeySequence(Qt::CTRL | Qt::Key_Equal)});
    QAction* zoomOut = m_viewMenu->addAction(tr("Zoom &Out"), m_view, &GraphView::zoomOut);
    zoomOut->setShortcut(QKeySequence::ZoomOut);
    QAction* actual =
        m_viewMenu->addAction(tr("&Actual Size"), m_view, [this] { m_view->setZoom(1.0); });
    actual->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_1));
    m_viewMenu->addSeparator();
    for (QDockWidget* dock : m_docks) m_viewMenu->addAction(dock->toggleViewAction());
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
    QString dir = m_path.isEmpty() ? QString() : QFileInfo(m_path).absolutePath();
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
    const quint64 generation = ++m_openGeneration;
    const QString name = QFileInfo(path).fileName();
    const int job = m_jobs->startJob(tr("Open %1").arg(name));
    m_loading = true;
    statusBar()->showMessage(tr("Opening %1…").arg(path));

    auto* watcher = new QFutureWatcher<LoadResult>(this);
    connect(watcher, &QFutureWatcher<LoadResult>::finished, this, [=, this] {
        LoadResult result = watcher->result();
        watcher->deleteLater();
        if (generation != m_openGeneration) {
            m_jobs->finishJob(job, false, tr("superseded"));
            return;
        }
        m_loading = false;
        if (!result.model) {
            m_jobs->finishJob(job, false);
            reportError(result.error);
            statusBar()->showMessage(tr("Could not open %1").arg(name));
            emit loadFailed(result.error);
            return;
        }
        m_jobs->finishJob(job, true);
        addRecentFile(path);
        showDocument(std::move(result.model), path);
        emit modelLoaded(path);
    });
    watcher->setFuture(QtConcurrent::run([path]() -> LoadResult {
        Expected<ir::Model> model = onnx::loadModel(toPath(path));
        if (!model) return {nullptr, QString::fromStdString(model.error().message())};
        if (!model->graph) return {nullptr, QStringLiteral("%1: the model has no graph").arg(path)};
        return {std::make_shared<ir::Model>(std::move(*model)), {}};
    }));
}

void MainWindow::setModel(ir::Model model, const QString& path) {
    ++m_openGeneration;  // a load still running must not replace this model
    m_loading = false;
    showDocument(std::make_shared<ir::Model>(std::move(model)), path);
}

void MainWindow::showDocument(std::shared_ptr<ir::Model> model, const QString& path) {
    m_model = std::move(model);
    m_path = path;
    ++m_documentGeneration;
    m_inspector->showModel(*m_model, m_path);
    m_view->clear(tr("Laying out…"));
    updateTitle();
    updateActions();
    startLayout();
}

void MainWindow::startLayout() {
    if (m_layoutCancel) m_layoutCancel->store(true);
    if (!m_model || !m_model->graph) return;
    m_layoutCancel = std::make_shared<std::atomic<bool>>(false);
    const quint64 generation = m_documentGeneration;
    std::shared_ptr<const ir::Graph> graph(m_model, m_model->graph.get());
    layout::LayoutOptions options = m_view->layoutOptions();  // fonts: GUI thread only
    const int job =
        m_jobs->startJob(tr("Layout of %n node(s)", nullptr, static_cast<int>(graph->numNodes())));
    m_layingOut = true;

    auto* watcher = new QFutureWatcher<LayoutResult>(this);
    connect(watcher, &QFutureWatcher<LayoutResult>::finished, this, [=, this] {
        LayoutResult result = watcher->result();
        watcher->deleteLater();
        if (generation != m_documentGeneration || !result.layout || result.layout->cancelled) {
            m_jobs->finishJob(job, false, tr("superseded"));
            return;
        }
        m_layingOut = false;
        m_jobs->finishJob(job, true);
        m_view->setGraph(graph, *result.layout);
        m_view->showInitialView();
        statusBar()->showMessage(tr("%1 nodes · %2 layers · %3 crossings · layout %4 s")
                                     .arg(result.layout->nodes.size())
                                     .arg(result.layout->numLayers)
                                     .arg(result.layout->crossings)
                                     .arg(result.seconds, 0, 'f', 2));
        emit viewReady();
    });
    std::shared_ptr<std::atomic<bool>> cancel = m_layoutCancel;
    watcher->setFuture(QtConcurrent::run([graph, options, cancel]() mutable -> LayoutResult {
        options.cancel = cancel.get();
        auto start = std::chrono::steady_clock::now();
        auto result = std::make_shared<const layout::Layout>(layout::layoutGraph(*graph, options));
        double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return {std::move(result), seconds};
    }));
}

// ---- Saving --------------------------------------------------------------------------------

void MainWindow::saveAs() {
    if (!m_model) return;
    QString suggestion =
        m_path.isEmpty() ? QDir::home().filePath(QStringLiteral("model.onnx")) : m_path;
    QString path = QFileDialog::getSaveFileName(this, tr("Save Model As"), suggestion,
                                                tr("ONNX models (*.onnx)"));
    if (path.isEmpty()) return;
    if (QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".onnx");
    saveTo(path);
}

void MainWindow::saveTo(const QString& path) {
    if (!m_model || m_saving) return;
    m_saving = true;
    updateActions();
    const quint64 generation = m_documentGeneration;
    const int job = m_jobs->startJob(tr("Save %1").arg(QFileInfo(path).fileName()));
    std::shared_ptr<const ir::Model> model = m_model;
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcher<QString>::finished, this, [=, this] {
        QString error = watcher->result();
        watcher->deleteLater();
        m_saving = false;
        updateActions();
        m_jobs->finishJob(job, error.isEmpty());
        if (!error.isEmpty()) {
            reportError(error);
            emit saveFinished(false, error);
            return;
        }
        if (generation == m_documentGeneration) {
            m_path = path;
            updateTitle();
        }
        addRecentFile(path);
        statusBar()->showMessage(tr("Saved %1").arg(path));
        emit saveFinished(true, path);
    });
    watcher->setFuture(QtConcurrent::run([model, path]() -> QString {
        Status status = onnx::saveModel(*model, toPath(path));
        return status.isOk() ? QString() : QString::fromStdString(status.message());
    }));
}

// ---- Events and helpers --------------------------------------------------------------------

void MainWindow::closeEvent(QCloseEvent* event) {
    saveSettings();
    if (m_layoutCancel) m_layoutCancel->store(true);
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
            openFile(url.toLocalFile());
            return;
        }
    event->ignore();
}

void MainWindow::onNodeSelected(ir::NodeId id) {
    if (!m_model || !m_model->graph) return;
    if (const ir::Node* node = m_model->graph->findNode(id)) m_inspector->showNode(*node);
}

void MainWindow::reportError(const QString& message) {
    m_issues->addError(message);
    m_issues->show();
    m_issues->raise();
}

void MainWindow::updateTitle() {
    if (!m_model) {
        setWindowTitle(QStringLiteral("Whittle"));
        return;
    }
    QString name = m_path.isEmpty() ? tr("Untitled") : QFileInfo(m_path).fileName();
    setWindowTitle(QStringLiteral("%1 — Whittle").arg(name));
    setWindowFilePath(m_path);
}

void MainWindow::updateActions() {
    m_saveAsAction->setEnabled(m_model != nullptr && !m_saving);
}

}  // namespace wh::widgets
