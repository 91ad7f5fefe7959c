#pragma once
/// MainWindow: the studio's frame. A GraphView in the centre (or, F8, the ComparisonView of the
/// last compression run's input and result); docks around it (Node Inspector,
/// Algorithm, Profiler, Summary, Visualization, Jobs, Issues); File, Edit, View and Help menus
/// (Help: a list of the keyboard shortcuts, About with the versions Whittle was built with).
///
/// Long work never runs on the GUI thread: opening a file (onnx::loadModel + validate + layout),
/// re-laying out after an edit, inferring tensor shapes (ShapeTable, after opening and after every
/// edit of the graph's structure; until it is done, and when it fails, tensors the model declares
/// no shape for show "?") and saving (onnx::saveModel) are JobRunner jobs, listed in the
/// Jobs dock with progress, ETA and Cancel. The GUI thread owns the Document (model, undo stack,
/// selection); jobs read an immutable Document::snapshot(), so editing, closing or replacing the
/// document while a job runs is safe. A cancelled or superseded job changes nothing.
///
/// Editing (Edit menu): Undo, Redo, Delete node, Rename node (in the inspector), Insert Identity,
/// and attribute values edited in the Node Inspector — each one undo step of the Document.
///
/// Saving never writes over the file the model was opened from unless the user picked that very
/// file in a Save As dialog. Closing the window or opening another file with unsaved edits asks
/// Save / Discard / Cancel.
///
/// Problems go to the Issues dock, never to a modal dialog (only the file dialogs and the
/// unsaved-changes question are modal).

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include <QMainWindow>
#include <QPointer>
#include <QStringList>

#include "core/ir/graph.h"
#include "core/rewrite/edits.h"
#include "widgets/graph_view.h"  // GraphView::ExportScope
#include "widgets/job_runner.h"  // QPointer<Job> needs the complete type

class QAction;
class QLabel;
class QMenu;
class QStackedWidget;
class QUndoGroup;

namespace wh::algo {
struct CompressResult;
}  // namespace wh::algo

namespace wh::widgets {

class Document;
struct DocumentChange;
class GraphView;
class IssuesDock;
class Job;
class JobRunner;
class JobsDock;
class AlgorithmDock;
class ComparisonView;
class NodeInspector;
class OpPalette;
class ProfilerDock;
class RunHistory;
class SensitivityDock;
class SummaryDock;
class VisualizationDock;
class ShapeTable;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    /// Whether window geometry, dock layout and recent files are read from and written to
    /// QSettings. Tests and screenshots use kIgnore to be independent of the user's setup.
    enum class SettingsMode { kPersist, kIgnore };

    explicit MainWindow(SettingsMode settings = SettingsMode::kPersist, QWidget* parent = nullptr);
    ~MainWindow() override;

    /// What the user answered to "save the unsaved changes?".
    enum class UnsavedAnswer { kSave, kDiscard, kCancel };

    /// Starts opening `path` in the background (after asking about unsaved changes). Ends with
    /// modelLoaded() then viewReady(), or with loadFailed() (the current document stays).
    void openFile(const QString& path);  // made absolute first
    /// Shows a model already in memory (built in code, or produced by a job); `path` may be
    /// empty. Ends with viewReady() once the layout is done. Does not ask about unsaved changes.
    void setModel(ir::Model model, const QString& path = {});

    /// The open document, or null.
    Document* document() const { return m_doc; }
    /// The document's model, or null.
    const ir::Model* model() const;
    /// The document's file (where Save writes), or empty.
    QString filePath() const;
    /// Where Export View suggests saving `scope`: the model's folder, its base name
    /// ("resnet18.png", "resnet18-view.png", "resnet18-selection.png"); "graph.png" in the last
    /// folder used (or home) for a model without a file.
    QString suggestedExportViewPath(GraphView::ExportScope scope) const;
    /// True while an open, layout or save runs.
    bool isBusy() const;
    /// The shapes inferred for the document as it is now, or null (not done yet, failed, or
    /// invalidated by an edit and being recomputed).
    std::shared_ptr<const ShapeTable> shapeTable() const { return m_shapes; }
    /// True while shape inference runs.
    bool isInferringShapes() const { return m_shapeJob && m_shapeJob->isRunning(); }
    QStringList recentFiles() const;
    JobRunner* jobRunner() const { return m_runner; }
    /// The job opening a file, while it runs.
    Job* openJob() const { return m_openJob && m_openJob->isRunning() ? m_openJob : nullptr; }

    /// Replaces the unsaved-changes question (a QMessageBox) — for tests and scripted use.
    void setUnsavedChangesHandler(std::function<UnsavedAnswer()> handler) {
        m_askUnsaved = std::move(handler);
    }
    /// Replaces the question asked when the ONNX checker refuses a model being saved ("Save
    /// anyway?", a QMessageBox): true writes it all the same.
    void setSaveAnywayHandler(std::function<bool(const QString& why)> handler) {
        m_askSaveAnyway = std::move(handler);
    }
    /// Asks for a line of text (title, label, initial text); nothing when cancelled. A
    /// QInputDialog unless replaced (tests, scripted use).
    using TextPrompt =
        std::function<std::optional<QString>(const QString&, const QString&, const QString&)>;
    void setTextPrompt(TextPrompt prompt) { m_askText = std::move(prompt); }

    GraphView* graphView() const { return m_view; }
    /// The status bar's permanent texts: the model summary ("resnet18.onnx · 69 nodes · 52
    /// layers · …") and the selection count ("3 nodes selected", empty when none). Menus'
    /// status tips and transient messages never hide them.
    QString statusSummary() const;
    QString selectionStatus() const;
    /// "Zoom 35 %": the view's scale as the status bar shows it.
    QString zoomStatus() const;
    NodeInspector* nodeInspector() const { return m_inspector; }
    IssuesDock* issuesDock() const { return m_issues; }
    JobsDock* jobsDock() const { return m_jobs; }
    ProfilerDock* profilerDock() const { return m_profiler; }
    AlgorithmDock* algorithmDock() const { return m_algorithm; }
    SummaryDock* summaryDock() const { return m_summary; }
    VisualizationDock* visualizationDock() const { return m_visualization; }
    SensitivityDock* sensitivityDock() const { return m_sensitivity; }
    ComparisonView* comparisonView() const { return m_compare; }
    /// True while the comparison view replaces the graph in the centre.
    bool isComparing() const;

public slots:
    /// Ctrl+S: saves to the document's file if a Save As confirmed it, else asks (saveAs()).
    void save();
    /// Asks for a file name, then saves there (the document then refers to it).
    void saveAs();
    /// Saves the document to `path` (a target the user confirmed) in the background; ends with
    /// saveFinished(). `then` runs after a successful save.
    void saveTo(const QString& path, std::function<void()> then = {});
    /// Asks for a file name and writes a copy of the model there, leaving the document as it is
    /// (later: the compressed model). Never over the opened file.
    void exportModel();
    /// Writes a copy to `path` in the background; ends with exportFinished().
    void exportTo(const QString& path);
    /// File > Save Edit Script: asks for a .json file and writes the named edits since the model
    /// was opened (Document::editScript), which `whittle-cli edit` replays.
    void saveEditScript();
    /// Writes the edit script to `path` (atomically); false, with the reason reported, when the
    /// edits include a step a script cannot hold or the file cannot be written.
    bool saveEditScriptTo(const QString& path);
    /// File > Extract Selection as Model (Ctrl+Shift+X): asks for a file (beside the model,
    /// "<name>-extract.onnx" suggested), then extractSelectionTo().
    void extractSelection();
    /// Writes what the selected nodes compute as a model of its own (rewrite::extractSelection:
    /// inputs are the tensors the selection reads, outputs those it computes that are read
    /// outside it), atomically; the document is left as it is. The ONNX checker's verdict on
    /// the result goes to the Issues dock. Never over the opened file.
    bool extractSelectionTo(const QString& path);
    /// File > Extract Between Tensors: asks for the input and the output tensors (comma
    /// separated; filled in from the selection's boundary, else the model's inputs and
    /// outputs), then for the file, then extractBetweenTo().
    void extractBetweenTensors();
    /// Writes the model that computes `outputs` from `inputs` (rewrite::extractModel), typed
    /// as extractSelectionTo() does. False (and an error shown) when a name is unknown or the
    /// outputs need a model input not among `inputs`.
    bool extractBetweenTo(const QString& path, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs);
    /// Asks for a file with QFileDialog and opens it.
    void openWithDialog();
    /// Export View (Ctrl+Shift+E): asks what to export (whole graph, visible area, selection;
    /// each with its picture's size, and whether it had to be scaled down), then where (the
    /// model's folder and name suggested), then exportViewTo().
    void exportView();
    /// Writes the picture of `scope` to `path` (PNG, or SVG for .svg); the status bar says what
    /// was written, the Issues dock why not.
    bool exportViewTo(const QString& path, GraphView::ExportScope scope);

    /// Deletes the selected nodes (one undo step); problems go to the Issues dock.
    void deleteSelection();
    /// Starts editing the selected node's name in the Node Inspector.
    void renameSelection();
    /// Renames node `id` (one undo step).
    bool renameNode(ir::NodeId id, const QString& name);
    /// Inserts an Identity after the selected node.
    void insertIdentity();
    /// Sets attribute `name` of node `id` from `text` (parsed by its type).
    bool editAttribute(ir::NodeId id, const QString& name, const QString& text);
    /// Applies a named edit (core/rewrite/edits.h) as one undo step; problems go to the Issues
    /// dock. What the edge and graph input/output menus do.
    bool applyNamedEdit(const rewrite::Edit& edit);
    /// The edits the context menu of an edge or a graph input/output box offers for `tensors`:
    /// make each a model output or take it out of them, rename it.
    void fillTensorMenu(QMenu& menu, const std::vector<std::string>& tensors);
    /// Adds an operator of the document's opset (placeholder values for its required
    /// attributes: the inspector edits them), as one undo step, and selects it. On the wire
    /// carrying `tensors` (its first) when given; else after the selected node, reading its
    /// output 0 (its readers then read the new node); else unconnected. False, with the reason
    /// in the Issues dock, when the edit is refused.
    bool addOperator(const QString& opType, const QStringList& tensors = {});
    /// Makes input `input` of `node` read `tensor` (connect, or replace what it read): one undo
    /// step. Refused, with the reason in the status bar and the Issues dock, when the tensor's
    /// element type is not one the operator's schema allows there (connectionProblem()).
    bool connectInput(ir::NodeId node, int input, const QString& tensor);
    /// Moves a wire's end: input `fromInput` of `from` stops reading `tensor`, input `toInput` of
    /// `to` reads it; one undo step.
    bool rewireInput(ir::NodeId from, int fromInput, ir::NodeId to, int toInput,
                     const QString& tensor);
    /// Input `input` of `node` reads nothing any more (the wire is deleted): one undo step.
    bool disconnectInput(ir::NodeId node, int input);
    /// Why input `input` of `node` cannot read `tensor` (its element type is not allowed
    /// there), or empty when it can (or the types are unknown).
    QString connectionProblem(ir::NodeId node, int input, const QString& tensor) const;
    /// When `tensor` has another known shape than what input `input` of `node` reads now (a
    /// rank or a known dim differs), the warning connectInput() gives after connecting; "" else.
    QString shapeChange(ir::NodeId node, int input, const QString& tensor) const;
    OpPalette* operatorPalette() const { return m_palette; }

    /// Asks for the dims of graph input `tensor` ("batch, 3, 224, 224": numbers, symbols, "?")
    /// and sets them (rewrite set_input_shape): shapes are inferred again at once.
    bool setInputShape(const QString& tensor);
    /// Edit > Set Batch Size: asks for a size (a number or a symbol) for dim 0 of every input.
    bool setBatchSize();
    /// Asks for "name: type[dims]" ("mask: int64[batch, 128]") and adds that graph input.
    bool addModelInput();

    /// Selects node `id` and centres it in the view (Issues dock jump).
    void focusNode(ir::NodeId id);
    /// F8: the last compression run's input and result side by side in the centre (the
    /// comparison view); false and a status message when there is no run yet.
    bool showComparison();
    /// Back to the document's graph in the centre.
    void showGraph();

signals:
    void modelLoaded(const QString& path);
    void loadFailed(const QString& message);
    /// The graph view shows the current document, laid out.
    void viewReady();
    /// `ok`: `detail` is the path written; else it is the error message.
    void saveFinished(bool ok, const QString& detail);
    void exportFinished(bool ok, const QString& detail);
    /// The document's graph changed (edit, undo, redo); the view follows with viewReady().
    void documentChanged();
    /// Shape inference for the current document ended: `ok` when shapeTable() is set.
    void shapesReady(bool ok);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    /// Saves the model `extract` makes to `path` (typed from the shape table where the source
    /// declares no type), checks it with the ONNX checker into the Issues dock, says so in the
    /// status bar. Never over the opened file; false with the error shown on failure.
    /// The selected nodes of the main graph (not of expanded bodies), in id order.
    std::vector<ir::NodeId> selectedMainGraphNodes() const;
    /// A warning in the status bar and in the Issues dock, with a jump to `node`.
    void warnOnNode(ir::NodeId node, const QString& text);
    bool writeExtracted(const QString& path,
                        const std::function<Expected<std::unique_ptr<ir::Model>>()>& extract);
    void createDocks();
    void createMenus();
    void restoreSettings();
    void saveSettings();
    void addRecentFile(const QString& path);
    void rebuildRecentMenu();
    void updateTitle();
    void updateActions();

    struct OpenResult;
    void startOpen(const QString& path);
    void showOpened(OpenResult& result, const QString& path, const QString& name);
    void installDocument(std::unique_ptr<Document> doc);
    /// Lays out the current snapshot in a job; `keepView` keeps zoom and centre (after edits).
    void startLayout(bool keepView);
    /// Drops the current shapes and infers them again for the document as it is now.
    void startShapeInference();
    /// Live validation of the document as it is now, in the background: checkModel and the
    /// ONNX checker with full_check. Its findings replace the previous ones in the Issues dock;
    /// errors naming a node put a "!" badge on it.
    void startValidation();
    /// The view's problem badges: the validation's and the shape inference's.
    void updateProblemBadges();
    /// Hands `shapes` (may be null) to the view and the inspector.
    void setShapes(std::shared_ptr<const ShapeTable> shapes);
    void onNodeSelected(ir::NodeId id);
    void onDocumentChanged(std::optional<ir::NodeId> focus, const DocumentChange& change);
    void refreshInspector();
    /// The status bar's selection count follows the document's selection.
    void updateSelectionStatus();
    /// Runs `then` unless the user cancels; asks Save / Discard / Cancel when dirty.
    void maybeSaveThen(std::function<void()> then);
    UnsavedAnswer askUnsaved();
    /// Saves (or exports) the current snapshot to `path`. Unless `force`, the ONNX checker
    /// (full_check) looks at it first: a model it refuses is written only if the user says
    /// Save Anyway (m_askSaveAnyway).
    void startSaveJob(const QString& path, bool isExport, std::function<void()> then,
                      bool force = false);
    void reportError(const QString& message, std::optional<ir::NodeId> node = std::nullopt);
    void reportIssue(int severity, const QString& message, std::optional<ir::NodeId> node);

    SettingsMode m_settingsMode;
    GraphView* m_view = nullptr;
    NodeInspector* m_inspector = nullptr;
    IssuesDock* m_issues = nullptr;
    JobsDock* m_jobs = nullptr;
    ProfilerDock* m_profiler = nullptr;
    AlgorithmDock* m_algorithm = nullptr;
    SummaryDock* m_summary = nullptr;
    VisualizationDock* m_visualization = nullptr;
    SensitivityDock* m_sensitivity = nullptr;
    OpPalette* m_palette = nullptr;
    QAction* m_addOperatorAction = nullptr;
    QAction* m_batchSizeAction = nullptr;
    QAction* m_addInputAction = nullptr;
    TextPrompt m_askText;
    // The next layout centres the selected node (one just added, maybe out of sight).
    bool m_revealAfterLayout = false;
    ComparisonView* m_compare = nullptr;
    QStackedWidget* m_centre = nullptr;
    std::shared_ptr<const algo::CompressResult> m_comparedResult;  // what the comparison shows
    QAction* m_compareAction = nullptr;
    std::unique_ptr<RunHistory> m_runHistory;
    QList<QDockWidget*> m_docks;
    QMenu* m_recentMenu = nullptr;
    QMenu* m_viewMenu = nullptr;
    QAction* m_saveAction = nullptr;
    QAction* m_saveAsAction = nullptr;
    QAction* m_exportAction = nullptr;
    QAction* m_deleteAction = nullptr;
    QAction* m_renameAction = nullptr;
    QAction* m_identityAction = nullptr;
    QAction* m_exportViewAction = nullptr;
    QAction* m_editScriptAction = nullptr;
    QAction* m_extractAction = nullptr;
    QAction* m_extractBetweenAction = nullptr;
    QAction* m_cleanupAction = nullptr;
    QAction* m_dedupeAction = nullptr;
    QAction* m_foldAction = nullptr;
    QAction* m_profileAction = nullptr;
    QAction* m_runAlgorithmAction = nullptr;
    QLabel* m_summaryLabel = nullptr;
    QLabel* m_zoomLabel = nullptr;
    // What the summary names: the file and the last layout's time (a relayout of an expansion
    // recounts the drawn nodes).
    QString m_summaryName;
    double m_layoutSeconds = 0;
    void updateSummary();
    void updateZoomStatus();
    QLabel* m_selectionLabel = nullptr;
    QStringList m_recentFiles;  // used in kIgnore mode, and as the cache in kPersist mode

    JobRunner* m_runner = nullptr;
    QUndoGroup* m_undoGroup = nullptr;
    Document* m_doc = nullptr;  // owned (child)
    QPointer<Job> m_openJob;
    QPointer<Job> m_layoutJob;
    QPointer<Job> m_shapeJob;
    QPointer<Job> m_validationJob;
    bool m_validationPending = false;  ///< an edit came while m_validationJob ran
    std::unordered_map<ir::NodeId, QString> m_validationProblems;
    std::unordered_map<ir::NodeId, QString> m_shapeProblems;
    std::shared_ptr<const ShapeTable> m_shapes;
    int m_saving = 0;  // save/export jobs running
    bool m_closing = false;
    std::function<UnsavedAnswer()> m_askUnsaved;
    std::function<bool(const QString& why)> m_askSaveAnyway;
};

}  // namespace wh::widgets
