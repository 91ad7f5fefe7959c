#pragma once
/// Document: one open model and everything about it that the GUI edits — the ir::Model, its
/// file, a rewrite::Rewriter over the main graph, the undo stack, the node selection and the
/// dirty state.
///
/// Every edit goes through the Rewriter inside one group, which becomes one EditLog step; the
/// Document then pushes one QUndoCommand whose text is the step's description. Undoing and
/// redoing that command call Rewriter::undo()/redo(), so the QUndoStack and the EditLog move in
/// lockstep. The document is dirty when the undo stack is not at its clean index (the state last
/// opened or saved).
///
/// Threads: the Document lives on the GUI thread, which alone edits model(). Jobs get an
/// immutable deep copy (tensor data shared, copy on write), made at most once per revision:
/// snapshotTask() lets the job itself make that copy (100k nodes take ~0.5 s to copy), reading
/// the model while the GUI thread goes on; an edit that comes meanwhile stops the copy (within
/// 1024 values or nodes: a few ms) and waits only for that, so nothing is read while it changes
/// and no edit waits for a whole copy; the job then gives up as stale.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <QObject>
#include <QString>

#include "core/ir/graph.h"
#include "core/rewrite/edits.h"
#include "core/util/status.h"

class QUndoStack;

namespace wh::rewrite {
class Rewriter;
struct Step;
}  // namespace wh::rewrite

namespace wh::widgets {

class SelectionModel;
struct CopyGate;

/// What one edit, undo or redo of a Document changed, collected from the Rewriter's Listener
/// events for it (nobody diffs graphs). Net per node: a node inserted and erased within the same
/// change is in no list; one erased and brought back is in `changed`. Ids sorted, names sorted.
struct DocumentChange {
    /// Nodes that exist now and did not before.
    std::vector<ir::NodeId> inserted;
    /// Nodes that existed before and are gone.
    std::vector<ir::NodeId> erased;
    /// Nodes there before and after whose inputs, outputs, attributes, name, op type, domain,
    /// doc string or position in graph order changed.
    std::vector<ir::NodeId> changed;
    /// Values whose dense initializer was added, replaced or removed (names after the change).
    std::vector<std::string> initializers;
    /// An initializer was added or removed (not only replaced): what is a constant changed.
    bool initializersAddedOrRemoved = false;
    /// A value was added, erased or renamed, or its type, doc string or value_info entry changed.
    bool valuesChanged = false;
    /// The graph input or output list changed.
    bool graphIoChanged = false;

    /// True when the graph's structure is as before: at most initializers were replaced (e.g. a
    /// weight write-back), so a view of the nodes and edges (and their layout) stays valid.
    bool onlyInitializerData() const {
        return inserted.empty() && erased.empty() && changed.empty() &&
               !initializersAddedOrRemoved && !valuesChanged && !graphIoChanged;
    }
};

class Document : public QObject {
    Q_OBJECT

public:
    /// Takes `model` (which must have a graph). `sourcePath` is the file it was read from (empty
    /// for a model built in memory); Save never writes over it without a confirmed Save As.
    Document(ir::Model model, QString sourcePath, QObject* parent = nullptr);
    /// Destroys the model on a worker thread: a 100k-node graph takes a while to free.
    ~Document() override;

    const ir::Model& model() const { return *m_model; }
    const ir::Graph& graph() const { return *m_model->graph; }
    /// The node `id` of the main graph, or null (erased, or never existed).
    const ir::Node* node(ir::NodeId id) const;
    /// The node `id` of the main graph or of any subgraph (If branches, Loop bodies: node ids
    /// are unique across a model), or null. Edits take main-graph nodes only (node()).
    const ir::Node* nodeInModel(ir::NodeId id) const;

    /// Where Save writes (the last confirmed Save As target), else the file it came from.
    const QString& filePath() const { return m_path; }
    /// The file the model was opened from; empty for a model built in memory.
    const QString& sourcePath() const { return m_sourcePath; }
    /// True when Save may write filePath() without asking: a Save As confirmed that path.
    bool canSaveInPlace() const { return !m_path.isEmpty() && m_path == m_confirmedPath; }
    /// Records a successful save to `path` (confirmed by the user) of the state at undo index
    /// `undoIndex`: the document is clean again if nothing changed since.
    void markSaved(const QString& path, int undoIndex);

    rewrite::Rewriter& rewriter() { return *m_rewriter; }
    QUndoStack* undoStack() const { return m_undo; }
    SelectionModel* selection() const { return m_selection; }

    /// True when there are edits not saved (the undo stack is away from its clean index).
    bool isDirty() const;
    /// Bumped by every change of the graph (edit, undo, redo).
    quint64 revision() const { return m_revision; }

    /// An immutable copy of the model as it is now, for jobs and the view. Cached: repeated calls
    /// without an edit in between return the same copy. GUI thread only.
    std::shared_ptr<const ir::Model> snapshot();
    /// The snapshot of the current revision, made when a job calls the returned function (on any
    /// thread): the cached one, or a copy made there (one per revision: tasks of the same
    /// revision that run together share the first one's copy). An edit stops a copy under way (within
    /// 1024 values or nodes) and waits only for that; a task whose copy was stopped, or that
    /// starts after an edit (or after the document is gone), returns null: its job is stale.
    /// The job hands what it got back to setSnapshot(snapshot, revision).
    using SnapshotTask = std::function<std::shared_ptr<const ir::Model>()>;
    SnapshotTask snapshotTask();
    /// Provides the snapshot of the current revision when a job already made one (opening makes
    /// it on the worker), so the GUI thread need not copy.
    void setSnapshot(std::shared_ptr<const ir::Model> snapshot);
    /// Same, for a snapshot a job made of revision `revision`: ignored if the document moved on.
    void setSnapshot(std::shared_ptr<const ir::Model> snapshot, quint64 revision);

    // ---- Edits (each is one undo step; on failure nothing changes and the Status says why) ----

    /// Deletes a node. A node with exactly one non-constant input is bypassed (its consumers read
    /// that input); otherwise it is erased, which needs its outputs to be unused. Constants only
    /// it read (initializers, Constant nodes) go with it.
    Status deleteNode(ir::NodeId id);
    /// Deletes several nodes as one undo step (all or nothing): as a whole when it can
    /// (rewrite delete_nodes: a connected selection with the tensors only it used), else each
    /// as deleteNode() does.
    Status deleteNodes(const std::vector<ir::NodeId>& ids);
    /// Sets the node's name. Refuses (kUsage, nothing changes) a non-empty name another node of
    /// the graph has already; an empty name is allowed.
    Status renameNode(ir::NodeId id, const std::string& name);
    /// Puts an Identity on the node's output 0, read by all its consumers; returns its id.
    Expected<ir::NodeId> insertIdentityAfter(ir::NodeId id);
    /// Replaces (or adds) one attribute of the node.
    Status setAttribute(ir::NodeId id, ir::Attribute attribute);
    /// Applies a named edit (rewrite::applyEdit: what an edit script holds) as one undo step.
    Expected<rewrite::EditResult> applyEdit(const rewrite::Edit& edit);
    /// Applies several named edits as one undo step called `label` (all or nothing): a wire's
    /// end moved from one input to another is two set_input edits the user did at once.
    Status applyEdits(const std::string& label, const std::vector<rewrite::Edit>& edits);
    /// The named edits that led from the opened file to the current state (the undo stack up to
    /// its index), as an edit script (rewrite::scriptToJson) that `whittle-cli edit` replays to
    /// the bytes save() writes. kUsage naming the first step a script cannot hold (a
    /// compression applied, an edit made with edit()).
    Expected<nlohmann::json> editScript() const;
    /// Runs `edit` inside one Rewriter group labelled `label`: all or nothing, one undo step.
    Status edit(const std::string& label, const std::function<Status(rewrite::Rewriter&)>& edit);
    /// Applies a job's result: `step`, recorded by a Rewriter over a clone of the snapshot of
    /// revision `baseRevision` (snapshot(), snapshotTask()), replayed through this document's
    /// Rewriter (rewrite::Rewriter::replay()) as one undo command whose text is the step's
    /// description. Refused, changing nothing, when the document moved on since (revision() is
    /// not `baseRevision`: kCancelled, "the model changed since ...") or when the step does not
    /// apply (replay's kBadInput naming the node or tensor). An empty step is no edit.
    Status applyStep(const rewrite::Step& step, quint64 baseRevision);

signals:
    /// The graph changed (an edit, undo or redo). `focus` is the node the change was about, when
    /// there is one that still exists; `change` says what changed.
    void changed(std::optional<wh::ir::NodeId> focus, const wh::widgets::DocumentChange& change);
    /// isDirty() changed.
    void dirtyChanged(bool dirty);
    /// Undo or redo failed (a bug: the log and the graph disagree); the message says why.
    void undoFailed(const QString& message);

private:
    friend class RewriteCommand;
    void afterUndoRedo(bool undo, const Status& status);
    /// After the Rewriter recorded a step: bumps the revision, pushes its undo command (text
    /// `text`) and emits changed().
    void pushCommitted(const QString& text,
                       std::optional<std::vector<rewrite::Edit>> edits = std::nullopt);
    /// Stops tasks not started yet and waits for copies under way: before every change.
    void waitForCopies();
    void dropErasedFromSelection();

    std::unique_ptr<ir::Model> m_model;
    std::unique_ptr<rewrite::Rewriter> m_rewriter;
    // Named edits applied since the outermost edit() began: the undo command being made holds them.
    std::vector<rewrite::Edit> m_pendingEdits;
    bool m_unscriptable = false;  // an edit in the making that no named edit describes
    std::unique_ptr<class EditListener> m_listener;
    QUndoStack* m_undo;
    SelectionModel* m_selection;
    QString m_sourcePath;
    QString m_path;
    QString m_confirmedPath;
    quint64 m_revision = 0;
    std::shared_ptr<const ir::Model> m_snapshot;
    std::shared_ptr<CopyGate> m_copies;  // jobs' copies of m_model (snapshotTask)
    quint64 m_snapshotRevision = ~quint64{0};
};

/// A problem found in a model that loaded: `node` is 0 when no single node is concerned.
struct ModelIssue {
    bool error = false;  ///< validate() failed (else a warning)
    std::string message;
    ir::NodeId node = 0;
};

/// Checks a loaded graph beyond what the importer enforces: validate(), nodes whose outputs
/// nothing reads (dead code), initializers no node reads, several nodes with the same name.
/// At most `maxIssues` entries; a last one says how many more there were. Any thread.
std::vector<ModelIssue> checkModel(const ir::Graph& graph, std::size_t maxIssues = 100);

/// The node a message names ("node 'conv1' (Conv)", ONNX's "node name: conv1" or "Node
/// (conv1)"), or 0.
ir::NodeId nodeNamedIn(const ir::Graph& graph, const std::string& message);

/// The ONNX checker's verdict on `model` (onnx::checkWithOnnx with full_check): empty when it
/// passes, else one error naming the node when the message does; a model newer than the
/// checker knows gives one warning saying so. Any thread.
std::vector<ModelIssue> onnxCheckIssues(const ir::Model& model);

/// Parses `text` as a new value for `current` (same name and type): an int, a float, a string,
/// or a list of ints or floats ("[1, 2]", "1,2" or "1 2"). Fails with a message naming the
/// attribute for other types or malformed text.
Expected<ir::Attribute> parseAttributeValue(const ir::Attribute& current, const QString& text);

}  // namespace wh::widgets

Q_DECLARE_METATYPE(wh::widgets::DocumentChange)
