#pragma once
/// ParamForm: the form for an algorithm's parameters, generated from its ParamSpecs — a check box
/// for a bool, a spin box for an int (its range), a text field for a float (range checked), a
/// combo box for an enum, a text field for a string and for a list ("a, b"). Each editor's
/// tooltip is the spec's help with its range or choices and its default; specs with a group get
/// a heading. params() validates everything with algo::checkParam and names the first bad field;
/// a bad field is also marked while typing. GUI thread only.

#include <vector>

#include <QHash>
#include <QWidget>

#include "core/algo/param_spec.h"
#include "core/util/status.h"

class QFormLayout;

namespace wh::widgets {

class ParamForm : public QWidget {
    Q_OBJECT

public:
    explicit ParamForm(QWidget* parent = nullptr);

    /// Rebuilds the form for `specs`, every field at its default.
    void setSpecs(std::vector<algo::ParamSpec> specs);
    const std::vector<algo::ParamSpec>& specs() const { return m_specs; }

    /// The values, validated: kBadInput naming the parameter when one is invalid.
    Expected<algo::Params> params() const;
    /// Shows `params`' values (e.g. a loaded recipe's). Names not in the form are ignored.
    void setParams(const algo::Params& params);
    /// Every field back to its spec's default.
    void resetToDefaults();

    /// The editor of parameter `name` (for tests and focus), or null.
    QWidget* editor(const QString& name) const { return m_editors.value(name); }
    /// True when every field holds a valid value.
    bool isValid() const { return params().has_value(); }

signals:
    /// A value changed (typed, toggled, picked).
    void changed();

private:
    Expected<algo::ParamValue> valueOf(const algo::ParamSpec& spec) const;
    void showValue(const algo::ParamSpec& spec, const algo::ParamValue& value);
    void markField(const algo::ParamSpec& spec);

    std::vector<algo::ParamSpec> m_specs;
    QHash<QString, QWidget*> m_editors;
    QFormLayout* m_layout;
};

}  // namespace wh::widgets
