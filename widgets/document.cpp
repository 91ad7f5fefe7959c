#include "widgets/document.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <string_view>
#include <unordered_map>

#include <QRegularExpression>
#include <QThreadPool>
#include <QUndoCommand>
#include <QUndoStack>

#include "core/onnx/op_schema.h"
#include "core/rewrite/rewriter.h"
#include "widgets/background.h"
#include "widgets/selection_model.h"

namespace wh::widgets {

namespace {

QString qs(const std::string& s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

}  // namespace

/// Tells the Document that the Rewriter recorded a step (so that one undo command is pushed) and
/// collects what an edit, undo or redo changed (DocumentChange) from the Rewriter's events.
class EditListener : public rewrite::Listener {
public:
    void nodeInserted(ir::NodeId id) override {
        if (m_erased.erase(id))
            m_changed.insert(id);  // erased and brought back
        else
            m_inserted.insert(id);
    }
    void nodeErased(ir::NodeId id) override {
        m_changed.erase(id);
        if (!m_inserted.erase(id)) m_erased.insert(id);
    }
    void nodeChanged(ir::NodeId id) override { touch(id); }
    void nodeMoved(ir::NodeId id) override { touch(id); }
    void valueAdded(const std::string&) override { m_values = true; }
    void valueErased(const std::string&) override { m_values = true; }
    void valueRenamed(const std::string& oldName, const std::string& newName) override {
        m_values = true;
        if (m_initializers.erase(oldName)) m_initializers.insert(newName);
    }
    void valueChanged(const std::string&) override { m_values = true; }
    void initializerChanged(const std::string& name) override { m_initializers.insert(name); }
    void graphIoChanged() override { m_graphIo = true; }
    void stepCommitted(const rewrite::Step& step) override {
        committed = true;
        scan(step);
    }
    void stepUndone(const rewrite::Step& step) override { scan(step); }
    void stepRedone(const rewrite::Step& step) override { scan(step); }

    /// Forgets what was collected: before an edit, undo or redo.
    void reset() {
        committed = false;
        m_inserted.clear();
        m_erased.clear();
        m_changed.clear();
        m_initializers.clear();
        m_addedOrRemoved = m_values = m_graphIo = false;
    }
    /// What changed since reset().
    DocumentChange change() const {
        DocumentChange c;
        c.inserted.assign(m_inserted.begin(), m_inserted.end());
        c.erased.assign(m_erased.begin(), m_erased.end());
        c.changed.assign(m_changed.begin(), m_changed.end());
        c.initializers.assign(m_initializers.begin(), m_initializers.end());
        c.initializersAddedOrRemoved = m_addedOrRemoved;
        c.valuesChanged = m_values;
        c.graphIoChanged = m_graphIo;
        return c;
    }

    bool committed = false;

private:
    void touch(ir::NodeId id) {
        if (!m_inserted.count(id)) m_changed.insert(id);
    }
    // Whether an initializer came or went: the event does not say, the step's record does.
    void scan(const rewrite::Step& step) {
        for (const rewrite::EditOp& op : step.ops)
            if (const auto* i = std::get_if<rewrite::InitializerOp>(&op))
                if (!i->before || !i->after) m_addedOrRemoved = true;
    }

    std::set<ir::NodeId> m_inserted, m_erased, m_changed;
    std::set<std::string> m_initializers;
    bool m_addedOrRemoved = false, m_values = false, m_graphIo = false;
};

/// One QUndoStack entry = one Rewriter step. The edit is already applied when the command is
/// pushed, so the first redo() (QUndoStack::push calls it) does nothing.
/// The snapshot copies jobs make of a document's model (snapshotTask). A task copies only if
/// the epoch is still the one it was made in; every change of the model first bumps the epoch
/// (so tasks not started yet give up) and waits for the copies under way.
struct CopyGate {
    /// The copy of one epoch (one revision of the model), shared by every task of that epoch:
    /// the first task to run makes it, the others wait for it. An edit starts three jobs
    /// (layout, shape inference, validation) that would otherwise copy a 100k-node model three
    /// times over on two cores, and an edit waits for whichever copy is under way.
    struct Shared {
        bool finished = false;
        std::shared_ptr<const ir::Model> model;  // null when the copy was stopped
    };
    std::mutex mutex;
    std::condition_variable done;    // a copy stopped reading the model, or finished
    std::atomic<quint64> epoch = 0;  // written under `mutex`; a copy polls it without
    int copying = 0;
    quint64 sharedEpoch = ~quint64{0};
    std::shared_ptr<Shared> shared;  // of `sharedEpoch`
};

class RewriteCommand : public QUndoCommand {
public:
    /// `edits`: the named edits this step is (Document::editScript), or nullopt when none
    /// describes it (a compression applied).
    RewriteCommand(Document* doc, const QString& text, std::optional<ir::NodeId> focus,
                   std::optional<std::vector<rewrite::Edit>> edits)
        : QUndoCommand(text), m_doc(doc), m_focus(focus), m_edits(std::move(edits)) {}

    const std::optional<std::vector<rewrite::Edit>>& edits() const { return m_edits; }

    void undo() override {
        m_doc->waitForCopies();
        m_doc->m_listener->reset();
        Status s = m_doc->m_rewriter->undo();
        m_doc->afterUndoRedo(true, s);
        emitChanged();
    }
    void redo() override {
        if (m_first) {
            m_first = false;
            return;
        }
        m_doc->waitForCopies();
        m_doc->m_listener->reset();
        Status s = m_doc->m_rewriter->redo();
        m_doc->afterUndoRedo(false, s);
        emitChanged();
    }

private:
    void emitChanged() {
        std::optional<ir::NodeId> focus;
        if (m_focus && m_doc->node(*m_focus)) focus = m_focus;
        emit m_doc->changed(focus, m_doc->m_listener->change());
    }

    Document* m_doc;
    std::optional<ir::NodeId> m_focus;
    std::optional<std::vector<rewrite::Edit>> m_edits;
    bool m_first = true;
};

Document::Document(ir::Model model, QString sourcePath, QObject* parent)
    : QObject(parent),
      m_model(std::make_unique<ir::Model>(std::move(model))),
      m_listener(std::make_unique<EditListener>()),
      m_undo(new QUndoStack(this)),
      m_selection(new SelectionModel(this)),
      m_sourcePath(std::move(sourcePath)),
      m_path(m_sourcePath),
      m_copies(std::make_shared<CopyGate>()) {
    WH_ASSERT(m_model->graph);
    m_rewriter = std::make_unique<rewrite::Rewriter>(*m_model->graph);
    m_rewriter->addListener(m_listener.get());
    connect(m_undo, &QUndoStack::cleanChanged, this,
            [this](bool clean) { emit dirtyChanged(!clean); });
}

Document::~Document() {
    waitForCopies();
    // Commands refer to the rewriter, the rewriter to the graph: tear down in that order.
    m_undo->disconnect(this);
    delete m_undo;
    m_undo = nullptr;
    m_rewriter->removeListener(m_listener.get());
    m_rewriter.reset();
    // Freeing a big graph (hundreds of thousands of nodes, values, strings) costs tens of
    // milliseconds: do it on a worker so that closing or replacing a document never stalls.
    std::shared_ptr<ir::Model> model(std::move(m_model));
    std::shared_ptr<const ir::Model> snapshot = std::move(m_snapshot);
    std::shared_ptr<CopyGate::Shared> shared;  // the jobs' last copy
    {
        std::lock_guard lock(m_copies->mutex);
        shared = std::move(m_copies->shared);
    }
    if (model->graph && model->graph->numNodes() > 1000)
        backgroundPool()->start([model, snapshot, shared]() mutable {
            shared.reset();
            snapshot.reset();
            model.reset();
        });
}

const ir::Node* Document::node(ir::NodeId id) const {
    return m_model->graph->findNode(id);
}

const ir::Node* Document::nodeInModel(ir::NodeId id) const {
    std::vector<const ir::Graph*> pending{m_model->graph.get()};
    while (!pending.empty()) {
        const ir::Graph* g = pending.back();
        pending.pop_back();
        if (const ir::Node* n = g->findNode(id)) return n;
        for (const ir::Node* n : g->subgraphHolders())
            for (const ir::Graph* sub : n->subgraphs()) pending.push_back(sub);
    }
    return nullptr;
}

void Document::markSaved(const QString& path, int undoIndex) {
    m_path = path;
    m_confirmedPath = path;
    if (m_undo->index() == undoIndex) m_undo->setClean();
}

bool Document::isDirty() const {
    return !m_undo->isClean();
}

std::shared_ptr<const ir::Model> Document::snapshot() {
    if (!m_snapshot || m_snapshotRevision != m_revision) {
        m_snapshot = std::make_shared<const ir::Model>(m_model->clone());
        m_snapshotRevision = m_revision;
    }
    return m_snapshot;
}

void Document::setSnapshot(std::shared_ptr<const ir::Model> snapshot) {
    m_snapshot = std::move(snapshot);
    m_snapshotRevision = m_revision;
}

void Document::setSnapshot(std::shared_ptr<const ir::Model> snapshot, quint64 revision) {
    if (revision == m_revision && m_snapshot != snapshot) {
        m_snapshot = std::move(snapshot);
        m_snapshotRevision = revision;
    }
}

Document::SnapshotTask Document::snapshotTask() {
    if (m_snapshot && m_snapshotRevision == m_revision) {
        return [snapshot = m_snapshot] { return snapshot; };
    }
    std::shared_ptr<CopyGate> gate = m_copies;
    const ir::Model* model = m_model.get();
    quint64 epoch;
    {
        std::lock_guard lock(gate->mutex);
        epoch = gate->epoch;
    }
    return [gate, model, epoch]() -> std::shared_ptr<const ir::Model> {
        std::shared_ptr<CopyGate::Shared> shared;
        std::shared_ptr<CopyGate::Shared> stale;  // an older epoch's: freed after the unlock
        {
            std::unique_lock lock(gate->mutex);
            if (gate->epoch != epoch) return nullptr;  // changed (or gone) since: no copy
            if (gate->sharedEpoch == epoch) {  // another task of this epoch copies: take that
                shared = gate->shared;
                gate->done.wait(lock, [&] { return shared->finished; });
                return shared->model;
            }
            stale = std::move(gate->shared);
            shared = gate->shared = std::make_shared<CopyGate::Shared>();
            gate->sharedEpoch = epoch;
            ++gate->copying;
        }
        // An edit waiting for this copy bumps the epoch: the copy then stops within 1024 values
        // or nodes (a few ms on any graph) instead of holding the edit until it is done. The
        // edit goes on as soon as the copy has stopped reading the model: freeing what was
        // copied so far (tens of ms on a big graph) happens after.
        bool released = false;
        auto release = [&] {
            if (released) return;
            released = true;
            {
                std::lock_guard lock(gate->mutex);
                --gate->copying;
            }
            gate->done.notify_all();
        };
        std::optional<ir::Model> copy = model->cloneUnlessCancelled([&] {
            if (gate->epoch.load() == epoch) return false;
            release();  // the clone stops here and reads the model no more
            return true;
        });
        release();
        std::shared_ptr<const ir::Model> result;
        if (copy) result = std::make_shared<const ir::Model>(std::move(*copy));
        {
            std::lock_guard lock(gate->mutex);
            shared->model = result;
            shared->finished = true;
        }
        gate->done.notify_all();
        return result;
    };
}

void Document::waitForCopies() {
    std::unique_lock lock(m_copies->mutex);
    ++m_copies->epoch;
    m_copies->done.wait(lock, [this] { return m_copies->copying == 0; });
}

void Document::afterUndoRedo(bool undo, const Status& status) {
    ++m_revision;
    if (!status.isOk())
        emit undoFailed(QStringLiteral("%1 failed: %2")
                            .arg(undo ? tr("Undo") : tr("Redo"), qs(status.message())));
    dropErasedFromSelection();
}

void Document::dropErasedFromSelection() {
    // Nodes an edit or undo erased may still be selected.
    std::vector<ir::NodeId> keep;
    bool dropped = false;
    for (ir::NodeId id : m_selection->sortedIds()) {
        if (node(id))
            keep.push_back(id);
        else
            dropped = true;
    }
    if (dropped) m_selection->setSelection(keep, m_selection->current());
}

Status Document::edit(const std::string& label,
                      const std::function<Status(rewrite::Rewriter&)>& editFn) {
    if (m_rewriter->groupDepth() != 0) {
        // Inside another edit (deleteNodes): a nested group; the outermost edit pushes the one
        // undo command.
        m_rewriter->beginGroup(label);
        Status status = editFn(*m_rewriter);
        if (status.isOk())
            m_rewriter->endGroup();
        else
            m_rewriter->cancelGroup();
        return status;
    }
    waitForCopies();
    m_listener->reset();
    m_pendingEdits.clear();
    m_unscriptable = true;  // unless editFn is a named edit (applyEdit says so)
    m_rewriter->beginGroup(label);
    Status status = editFn(*m_rewriter);
    if (!status.isOk()) {
        m_rewriter->cancelGroup();
        m_pendingEdits.clear();
        return status;
    }
    m_rewriter->endGroup();
    if (!m_listener->committed) return Status::ok();  // nothing changed: no undo step
    const rewrite::Step* step = m_rewriter->log().nextUndo();
    std::optional<std::vector<rewrite::Edit>> edits;
    if (!m_unscriptable) edits = std::move(m_pendingEdits);
    m_pendingEdits.clear();
    pushCommitted(step ? qs(step->description) : qs(label), std::move(edits));
    return Status::ok();
}

Expected<rewrite::EditResult> Document::applyEdit(const rewrite::Edit& named) {
    rewrite::EditResult result;
    const bool outermost = m_rewriter->groupDepth() == 0;
    WH_ASSIGN_OR_RETURN(rewrite::PreparedEdit prepared,
                        rewrite::prepareEdit(*m_model->graph, named));
    result.label = prepared.label;
    Status s = edit(prepared.label, [&](rewrite::Rewriter& r) -> Status {
        if (outermost) m_unscriptable = false;
        WH_RETURN_STATUS_IF_ERROR(prepared.apply(r, result));
        m_pendingEdits.push_back(named);
        return Status::ok();
    });
    if (!s.isOk()) return tl::unexpected(s);
    return result;
}

Status Document::applyEdits(const std::string& label, const std::vector<rewrite::Edit>& edits) {
    if (edits.size() == 1) {
        auto done = applyEdit(edits.front());
        return done ? Status::ok() : done.error();
    }
    return edit(label, [&](rewrite::Rewriter&) -> Status {
        m_unscriptable = false;  // named edits only
        for (const rewrite::Edit& e : edits) {
            auto done = applyEdit(e);
            if (!done) return done.error();
        }
        return Status::ok();
    });
}

Expected<nlohmann::json> Document::editScript() const {
    std::vector<rewrite::Edit> edits;
    for (int i = 0; i < m_undo->index(); ++i) {
        const auto* command = dynamic_cast<const RewriteCommand*>(m_undo->command(i));
        if (!command || !command->edits())
            return error(StatusCode::kUsage,
                         "step {} ('{}') is not a named edit, so an edit script cannot hold it",
                         i + 1, m_undo->command(i)->text().toStdString());
        edits.insert(edits.end(), command->edits()->begin(), command->edits()->end());
    }
    return rewrite::scriptToJson(edits);
}

void Document::pushCommitted(const QString& text, std::optional<std::vector<rewrite::Edit>> edits) {
    ++m_revision;
    // The focus: the current node if it still exists (the command remembers it for undo/redo).
    std::optional<ir::NodeId> focus = m_selection->current();
    if (focus && !node(*focus)) focus.reset();
    m_undo->push(new RewriteCommand(this, text, focus, std::move(edits)));
    dropErasedFromSelection();
    emit changed(focus, m_listener->change());
}

Status Document::applyStep(const rewrite::Step& step, quint64 baseRevision) {
    if (m_rewriter->groupDepth() != 0)
        return makeStatus(StatusCode::kUsage, "cannot apply '{}' in the middle of another edit",
                          step.description);
    if (baseRevision != m_revision)
        return makeStatus(StatusCode::kCancelled,
                          "cannot apply '{}': the model changed since the job started (revision "
                          "{}, now {}); run it again",
                          step.description, baseRevision, m_revision);
    waitForCopies();
    m_listener->reset();
    // replay() checks every change against the graph and rolls back on a mismatch.
    WH_RETURN_STATUS_IF_ERROR(m_rewriter->replay(step));
    if (!m_listener->committed) return Status::ok();  // an empty step: no undo command
    pushCommitted(qs(step.description));
    return Status::ok();
}

// The studio's edits are the named edits of core/rewrite/edits.h, so that an edit script
// records them and `whittle-cli edit` replays them.
Status Document::deleteNode(ir::NodeId id) {
    const ir::Node* n = node(id);
    if (!n) return makeStatus(StatusCode::kUsage, "no node with id {} to delete", id);
    auto r = applyEdit(rewrite::deleteNodeEdit(graph(), *n));
    return r ? Status::ok() : r.error();
}

Status Document::deleteNodes(const std::vector<ir::NodeId>& ids) {
    if (ids.size() == 1) return deleteNode(ids.front());
    // The selection as a whole (delete_nodes: a connected region goes with the tensors only it
    // used, its one way through bypassed) when that works; else node by node, each bypassed
    // (three scattered Relus).
    std::vector<const ir::Node*> nodes;
    for (ir::NodeId id : ids)
        if (const ir::Node* n = node(id)) nodes.push_back(n);
    if (nodes.size() == ids.size()) {
        const rewrite::Edit whole = rewrite::deleteNodesEdit(graph(), nodes);
        if (rewrite::prepareEdit(*m_model->graph, whole)) {
            auto done = applyEdit(whole);
            return done ? Status::ok() : done.error();
        }
    }
    return edit(fmt::format("Delete {} nodes", ids.size()), [&](rewrite::Rewriter&) -> Status {
        m_unscriptable = false;  // named edits only
        for (ir::NodeId id : ids) WH_RETURN_STATUS_IF_ERROR(deleteNode(id));
        return Status::ok();
    });
}

Status Document::renameNode(ir::NodeId id, const std::string& name) {
    const ir::Node* n = node(id);
    if (!n) return makeStatus(StatusCode::kUsage, "no node with id {} to rename", id);
    if (n->name == name) return Status::ok();
    auto r = applyEdit(rewrite::renameNodeEdit(graph(), *n, name));
    return r ? Status::ok() : r.error();
}

Expected<ir::NodeId> Document::insertIdentityAfter(ir::NodeId id) {
    const ir::Node* n = node(id);
    if (!n) return error(StatusCode::kUsage, "no node with id {}", id);
    WH_ASSIGN_OR_RETURN(rewrite::EditResult r, applyEdit(rewrite::insertIdentityEdit(graph(), *n)));
    return *r.created;
}

Status Document::setAttribute(ir::NodeId id, ir::Attribute attribute) {
    const ir::Node* n = node(id);
    if (!n) return makeStatus(StatusCode::kUsage, "no node with id {}", id);
    WH_ASSIGN_OR_RETURN_STATUS(rewrite::Edit named,
                               rewrite::setAttributeEdit(graph(), *n, attribute));
    auto r = applyEdit(named);
    return r ? Status::ok() : r.error();
}

ir::NodeId nodeNamedIn(const ir::Graph& graph, const std::string& m) {
    // Ours: "node 'conv1' (Conv) ..."; ONNX shape inference: "(op_type:Conv, node name: conv1)";
    // the ONNX checker: "Node (conv1) has ..." or "... of node: name: conv1 OpType: Conv".
    struct Pattern {
        const char* start;
        const char* end;
    };
    static constexpr Pattern kPatterns[] = {
        {"node '", "' ("}, {"node name: ", ")"}, {"Node (", ")"}, {"name: ", " OpType"}};
    for (const Pattern& p : kPatterns) {
        const std::size_t at = m.find(p.start);
        if (at == std::string::npos) continue;
        const std::size_t from = at + std::strlen(p.start);
        const std::size_t end = m.find(p.end, from);
        if (end == std::string::npos) continue;
        const std::string name = m.substr(from, end - from);
        for (const ir::Node* n : graph.nodes())
            if (n->displayName() == name || (!n->name.empty() && n->name == name)) return n->id();
    }
    return 0;
}

std::vector<ModelIssue> onnxCheckIssues(const ir::Model& model) {
    Status s = onnx::checkWithOnnx(model, /*fullCheck=*/true);
    if (s.isOk()) return {};
    if (s.code() == StatusCode::kUnsupported) return {{false, s.message(), 0}};
    return {{true, s.message(), model.graph ? nodeNamedIn(*model.graph, s.message()) : 0}};
}

std::vector<ModelIssue> checkModel(const ir::Graph& graph, std::size_t maxIssues) {
    std::vector<ModelIssue> issues;
    std::size_t more = 0;
    auto add = [&](bool error, std::string message, ir::NodeId node) {
        if (issues.size() < maxIssues)
            issues.push_back({error, std::move(message), node});
        else
            ++more;
    };
    if (Status valid = graph.validate(); !valid.isOk()) {
        // "node 'x' (Op) ..." names the node: find it so the Issues dock can jump there.
        add(true, "the graph does not validate: " + valid.message(),
            nodeNamedIn(graph, valid.message()));
    }
    std::unordered_map<std::string_view, const ir::Node*> byName;
    byName.reserve(graph.numNodes());
    for (const ir::Node* n : graph.nodes()) {
        bool used = n->numOutputs() == 0;  // a node without outputs is there for its effect
        for (const ir::Value* v : n->outputs())
            if (v && (v->hasUses() || v->isGraphOutput())) used = true;
        if (!used)
            add(false,
                fmt::format("node '{}' ({}): nothing reads its outputs (dead code)",
                            n->displayName(), n->opType),
                n->id());
        if (!n->name.empty()) {
            auto [it, inserted] = byName.emplace(n->name, n);
            if (!inserted)
                add(false,
                    fmt::format("node name '{}' is used by more than one node ({} and {})", n->name,
                                it->second->opType, n->opType),
                    n->id());
        }
    }
    for (const ir::Value* v : graph.initializers())
        if (!v->hasUses() && !v->isGraphOutput() && !v->isGraphInput())
            add(false, fmt::format("initializer '{}' is not read by any node", v->name()), 0);
    if (more > 0) add(false, fmt::format("... and {} more problems like these", more), 0);
    if (more > 0 && issues.size() == maxIssues)
        issues.back() = {false, fmt::format("... and {} more problems like these", more + 1), 0};
    return issues;
}

Expected<ir::Attribute> parseAttributeValue(const ir::Attribute& current, const QString& text) {
    const std::string name = current.name;
    ir::Attribute a;
    const QString t = text.trimmed();
    auto bad = [&](const char* expected) {
        return error(StatusCode::kUsage, "attribute '{}': '{}' is not {}", name, t.toStdString(),
                     expected);
    };
    auto listItems = [&]() {
        QString body = t;
        if (body.startsWith(QLatin1Char('[')) && body.endsWith(QLatin1Char(']')))
            body = body.mid(1, body.size() - 2);
        return body.split(QRegularExpression(QStringLiteral("[,\\s]+")), Qt::SkipEmptyParts);
    };
    switch (current.type) {
        case ir::AttrType::kInt: {
            bool ok = false;
            qlonglong v = t.toLongLong(&ok);
            if (!ok) return bad("an integer");
            a = ir::Attribute::makeInt(name, v);
            break;
        }
        case ir::AttrType::kFloat: {
            bool ok = false;
            float v = t.toFloat(&ok);
            if (!ok) return bad("a number");
            a = ir::Attribute::makeFloat(name, v);
            break;
        }
        case ir::AttrType::kString:
            a = ir::Attribute::makeString(name, text.toStdString());
            break;
        case ir::AttrType::kInts: {
            std::vector<int64_t> v;
            for (const QString& item : listItems()) {
                bool ok = false;
                v.push_back(item.toLongLong(&ok));
                if (!ok) return bad("a list of integers");
            }
            a = ir::Attribute::makeInts(name, std::move(v));
            break;
        }
        case ir::AttrType::kFloats: {
            std::vector<float> v;
            for (const QString& item : listItems()) {
                bool ok = false;
                v.push_back(item.toFloat(&ok));
                if (!ok) return bad("a list of numbers");
            }
            a = ir::Attribute::makeFloats(name, std::move(v));
            break;
        }
        default:
            return error(StatusCode::kUnsupported, "attribute '{}' ({}) cannot be edited as text",
                         name, current.valueString());
    }
    a.docString = current.docString;
    a.refAttrName = current.refAttrName;
    return a;
}

}  // namespace wh::widgets
