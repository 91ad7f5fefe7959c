#pragma once
/// MainWindow: the studio's frame. A GraphView in the centre; docks around it (Node Inspector,
/// Algorithm, Profiler, Summary, Visualization, Jobs, Issues); File and View menus.
///
/// Long work never runs on the GUI thread: opening a file (onnx::loadModel), laying out its graph
/// (layout::layoutGraph) and saving (onnx::saveModel) run through QtConcurrent and hand their
/// results back via QFutureWatcher. The GUI thread owns the document; a job holds a shared_ptr to
/// the model it reads, so closing or replacing the document while a job runs is safe. Results of
/// a superseded job (another file was opened meanwhile) are dropped.
///
/// Problems go to the Issues dock, never to a modal dialog.

#include <atomic>
#include <memory>

#include <QMainWindow>
#include <QStringList>

#include "core/ir/graph.h"

class QAction;
class QMenu;

namespace wh::widgets {

class GraphView;
class IssuesDock;
class JobsDock;
class NodeInspector;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    /// Whether window geometry, dock layout and recent files are read from and written to
    /// QSettings. Tests and screenshots use kIgnore to be independent of the user's setup.
    enum class SettingsMode { kPersist, kIgnore };

    explicit MainWindow(SettingsMode settings = SettingsMode::kPersist, QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Starts opening `path` in the background. Ends with modelLoaded() then viewReady(), or with
    /// loadFailed() (the current document stays).
    void openFile(const QString& path);  // made absolute first
    /// Shows a model already in memory (built in code, or produced by a job); `path` may be
    /// empty. Ends with viewReady() once the layout is done.
    void setModel(ir::Model model, const QString& path = {});

    /// The document's model, or null.
    const ir::Model* model() const { return m_model.get(); }
    /// The document's file, or empty.
    const QString& filePath() const { return m_path; }
    /// True while a load, layout or save runs.
    bool isBusy() const { return m_loading || m_layingOut || m_saving; }
    QStringList recentFiles() const;

    GraphView* graphView() const { return m_view; }
    NodeInspector* nodeInspector() const { return m_inspector; }
    IssuesDock* issuesDock() const { return m_issues; }
    JobsDock* jobsDock() const { return m_jobs; }

public slots:
    /// Asks for a file name, then saves a copy there (the document then refers to it).
    void saveAs();
    /// Saves the document to `path` in the background; ends with saveFinished().
    void saveTo(const QString& path);
    /// Asks for a file with QFileDialog and opens it.
    void openWithDialog();

signals:
    void modelLoaded(const QString& path);
    void loadFailed(const QString& message);
    /// The graph view shows the current document, laid out.
    void viewReady();
    /// `ok`: `detail` is the path written; else it is the error message.
    void saveFinished(bool ok, const QString& detail);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void createDocks();
    void createMenus();
    void restoreSettings();
    void saveSettings();
    void addRecentFile(const QString& path);
    void rebuildRecentMenu();
    void updateTitle();
    void updateActions();

    void showDocument(std::shared_ptr<ir::Model> model, const QString& path);
    void startLayout();
    void onNodeSelected(ir::NodeId id);
    void reportError(const QString& message);

    SettingsMode m_settingsMode;
    GraphView* m_view = nullptr;
    NodeInspector* m_inspector = nullptr;
    IssuesDock* m_issues = nullptr;
    JobsDock* m_jobs = nullptr;
    QList<QDockWidget*> m_docks;
    QMenu* m_recentMenu = nullptr;
    QMenu* m_viewMenu = nullptr;
    QAction* m_saveAsAction = nullptr;
    QAction* m_fitAction = nullptr;
    QStringList m_recentFiles;  // used in kIgnore mode, and as the cache in kPersist mode

    std::shared_ptr<ir::Model> m_model;
    QString m_path;
    quint64 m_openGeneration = 0;      // bumped per openFile(): stale loads are dropped
    quint64 m_documentGeneration = 0;  // bumped per document shown: stale layouts are dropped
    std::shared_ptr<std::atomic<bool>> m_layoutCancel;
    bool m_loading = false;
    bool m_layingOut = false;
    bool m_saving = false;
};

}  // namespace wh::widgets
