#pragma once
/// NodeInspector: the properties of the selected node (name, op type, domain, attributes, inputs
/// and outputs with dtype and shape; initializers with their element count), or of the whole
/// model when no node is selected.
///
/// It copies everything it shows into its widgets: it keeps no pointer into the IR, so the model
/// may change or go away afterwards (call clear() or show something new).

#include <optional>

#include <QWidget>

#include "core/ir/graph.h"

class QTreeWidget;
class QTreeWidgetItem;
class QLabel;

namespace wh::widgets {

class NodeInspector : public QWidget {
    Q_OBJECT

public:
    explicit NodeInspector(QWidget* parent = nullptr);

    /// Shows `node`'s properties.
    void showNode(const ir::Node& node);
    /// Shows model-level facts: producer, IR and opset versions, node count, graph inputs and
    /// outputs.
    void showModel(const ir::Model& model, const QString& path);
    /// Shows nothing but a hint.
    void clear();

    /// The node shown, if a node is shown.
    std::optional<ir::NodeId> shownNode() const { return m_node; }
    /// The property tree (two columns: property, value). For tests and for copying.
    const QTreeWidget* tree() const { return m_tree; }
    /// The value column of the row whose first column is `property` under `section`
    /// ("Node", "Attributes", "Inputs", "Outputs", "Model"); empty if absent.
    QString valueOf(const QString& section, const QString& property) const;

private:
    QTreeWidgetItem* addSection(const QString& title);
    void addRow(QTreeWidgetItem* section, const QString& property, const QString& value,
                const QString& tooltip = {});
    /// One row per value: name, then type and notes (initializer size, producer or use count).
    void addValueRows(QTreeWidgetItem* section, const std::vector<ir::Value*>& values,
                      bool asInputs);

    QLabel* m_title;
    QTreeWidget* m_tree;
    std::optional<ir::NodeId> m_node;
};

/// "float[1,3,224,224]" for a value: its declared type, else its initializer's dtype and dims,
/// else "?".
QString valueTypeString(const ir::Value& value);

}  // namespace wh::widgets
