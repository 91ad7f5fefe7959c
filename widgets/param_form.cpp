#include "widgets/param_form.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QSpinBox>

namespace wh::widgets {

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

QString rangeText(const algo::ParamSpec& spec) {
    const bool lo = std::isfinite(spec.min), hi = std::isfinite(spec.max);
    if (lo && hi) return QStringLiteral("[%1, %2]").arg(spec.min).arg(spec.max);
    if (lo) return QStringLiteral("≥ %1").arg(spec.min);
    if (hi) return QStringLiteral("≤ %1").arg(spec.max);
    return {};
}

QString tooltipOf(const algo::ParamSpec& spec) {
    QStringList lines{QStringLiteral("<b>%1</b> (%2)").arg(qs(spec.name),
                                                          qs(std::string(paramTypeName(spec.type)))),
                      qs(spec.help).toHtmlEscaped()};
    if (spec.type == algo::ParamType::kInt || spec.type == algo::ParamType::kFloat) {
        const QString range = rangeText(spec);
        if (!range.isEmpty()) lines << QObject::tr("Range: %1").arg(range);
    }
    if (!spec.choices.empty()) {
        QStringList choices;
        for (const std::string& c : spec.choices) choices << qs(c);
        lines << QObject::tr("Choices: %1").arg(choices.join(QStringLiteral(", ")));
    }
    lines << QObject::tr("Default: %1").arg(qs(algo::paramValueText(spec.defaultValue)));
    if (!spec.aliases.empty()) {
        QStringList aliases;
        for (const std::string& a : spec.aliases) aliases << qs(a);
        lines << QObject::tr("Also accepted in recipes as: %1")
                     .arg(aliases.join(QStringLiteral(", ")));
    }
    return lines.join(QStringLiteral("<br>"));
}

QStringList splitList(const QString& text) {
    QStringList out;
    for (const QString& part : text.split(QLatin1Char(','), Qt::SkipEmptyParts))
        if (!part.trimmed().isEmpty()) out << part.trimmed();
    return out;
}

}  // namespace

ParamForm::ParamForm(QWidget* parent) : QWidget(parent) {
    m_layout = new QFormLayout(this);
    m_layout->setContentsMargins(0, 0, 0, 0);
    m_layout->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
}

void ParamForm::setSpecs(std::vector<algo::ParamSpec> specs) {
    while (m_layout->rowCount() > 0) m_layout->removeRow(0);  // deletes the widgets
    m_editors.clear();
    // One heading per group, in the order the groups first appear (specs need not be sorted).
    std::vector<std::string> groups;
    for (const algo::ParamSpec& spec : specs)
        if (std::find(groups.begin(), groups.end(), spec.group) == groups.end())
            groups.push_back(spec.group);
    std::stable_sort(specs.begin(), specs.end(), [&](const auto& a, const auto& b) {
        return std::find(groups.begin(), groups.end(), a.group) <
               std::find(groups.begin(), groups.end(), b.group);
    });
    m_specs = std::move(specs);
    std::string group = "\x01";  // no heading before the first ungrouped specs
    for (const algo::ParamSpec& spec : m_specs) {
        if (spec.group != group && !(group == "\x01" && spec.group.empty())) {
            auto* heading = new QLabel(
                QStringLiteral("<b>%1</b>").arg(spec.group.empty() ? tr("general")
                                                                   : qs(spec.group)),
                this);
            m_layout->addRow(heading);
        }
        group = spec.group;
        const QString name = qs(spec.name);
        QWidget* editor = nullptr;
        switch (spec.type) {
        case algo::ParamType::kBool: {
            auto* box = new QCheckBox(this);
            connect(box, &QCheckBox::toggled, this, &ParamForm::changed);
            editor = box;
            break;
        }
        case algo::ParamType::kInt: {
            auto* spin = new QSpinBox(this);
            constexpr double kMax = std::numeric_limits<int>::max();
            spin->setRange(static_cast<int>(std::isfinite(spec.min) ? std::max(spec.min, -kMax) : -kMax),
                           static_cast<int>(std::isfinite(spec.max) ? std::min(spec.max, kMax) : kMax));
            spin->setGroupSeparatorShown(false);
            connect(spin, &QSpinBox::valueChanged, this, &ParamForm::changed);
            editor = spin;
            break;
        }
        case algo::ParamType::kEnum: {
            auto* combo = new QComboBox(this);
            for (const std::string& c : spec.choices) combo->addItem(qs(c));
            connect(combo, &QComboBox::currentIndexChanged, this, &ParamForm::changed);
            editor = combo;
            break;
        }
        case algo::ParamType::kFloat:
        case algo::ParamType::kString:
        case algo::ParamType::kList: {
            auto* line = new QLineEdit(this);
            if (spec.type == algo::ParamType::kList)
                line->setPlaceholderText(tr("comma-separated; empty = none"));
            connect(line, &QLineEdit::textChanged, this, [this, &spec] {
                markField(spec);
                emit changed();
            });
            editor = line;
            break;
        }
        }
        editor->setObjectName(QStringLiteral("param:") + name);
        editor->setToolTip(tooltipOf(spec));
        auto* label = new QLabel(name, this);
        label->setToolTip(editor->toolTip());
        label->setBuddy(editor);
        m_layout->addRow(label, editor);
        m_editors.insert(name, editor);
    }
    // Once every editor exists: showing a value signals changed(), whose slots read them all.
    resetToDefaults();
}

void ParamForm::showValue(const algo::ParamSpec& spec, const algo::ParamValue& value) {
    QWidget* editor = m_editors.value(qs(spec.name));
    if (!editor) return;
    switch (spec.type) {
    case algo::ParamType::kBool:
        if (const bool* b = std::get_if<bool>(&value))
            static_cast<QCheckBox*>(editor)->setChecked(*b);
        break;
    case algo::ParamType::kInt:
        if (const int64_t* i = std::get_if<int64_t>(&value))
            static_cast<QSpinBox*>(editor)->setValue(static_cast<int>(*i));
        break;
    case algo::ParamType::kEnum:
        if (const std::string* s = std::get_if<std::string>(&value))
            static_cast<QComboBox*>(editor)->setCurrentText(qs(*s));
        break;
    case algo::ParamType::kFloat:
    case algo::ParamType::kString:
    case algo::ParamType::kList: {
        QString text;
        if (const double* d = std::get_if<double>(&value))
            text = QString::number(*d, 'g', 10);
        else if (const int64_t* i = std::get_if<int64_t>(&value))
            text = QString::number(*i);
        else if (const std::string* s = std::get_if<std::string>(&value))
            text = qs(*s);
        else if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
            QStringList parts;
            for (const std::string& e : *list) parts << qs(e);
            text = parts.join(QStringLiteral(", "));
        }
        static_cast<QLineEdit*>(editor)->setText(text);
        break;
    }
    }
}

Expected<algo::ParamValue> ParamForm::valueOf(const algo::ParamSpec& spec) const {
    QWidget* editor = m_editors.value(qs(spec.name));
    if (!editor) return error(StatusCode::kInternal, "parameter '{}' has no field", spec.name);
    algo::ParamValue value;
    switch (spec.type) {
    case algo::ParamType::kBool: value = static_cast<QCheckBox*>(editor)->isChecked(); break;
    case algo::ParamType::kInt:
        value = int64_t{static_cast<QSpinBox*>(editor)->value()};
        break;
    case algo::ParamType::kEnum:
        value = static_cast<QComboBox*>(editor)->currentText().toStdString();
        break;
    case algo::ParamType::kFloat: {
        const QString text = static_cast<QLineEdit*>(editor)->text().trimmed();
        bool ok = false;
        double d = text.toDouble(&ok);  // C locale: recipes and the CLI write 0.01
        if (!ok) d = QLocale().toDouble(text, &ok);
        if (!ok)
            return error(StatusCode::kBadInput, "parameter '{}': '{}' is not a number", spec.name,
                         text.toStdString());
        value = d;
        break;
    }
    case algo::ParamType::kString:
        value = static_cast<QLineEdit*>(editor)->text().toStdString();
        break;
    case algo::ParamType::kList: {
        std::vector<std::string> list;
        for (const QString& e : splitList(static_cast<QLineEdit*>(editor)->text()))
            list.push_back(e.toStdString());
        value = std::move(list);
        break;
    }
    }
    return algo::checkParam(spec, std::move(value));
}

void ParamForm::markField(const algo::ParamSpec& spec) {
    QWidget* editor = m_editors.value(qs(spec.name));
    if (!editor) return;
    const Expected<algo::ParamValue> v = valueOf(spec);
    editor->setStyleSheet(v ? QString() : QStringLiteral("QLineEdit { border: 1px solid #c0392b; }"));
    editor->setToolTip(v ? tooltipOf(spec)
                         : qs(v.error().message()).toHtmlEscaped() + QStringLiteral("<br><br>") +
                               tooltipOf(spec));
}

Expected<algo::Params> ParamForm::params() const {
    algo::Params params(m_specs);
    for (const algo::ParamSpec& spec : m_specs) {
        WH_ASSIGN_OR_RETURN(algo::ParamValue v, valueOf(spec));
        // Only what differs from the default counts as set (recipes then stay minimal).
        if (algo::paramValueText(v) == algo::paramValueText(spec.defaultValue)) continue;
        WH_RETURN_IF_ERROR(params.set(spec.name, std::move(v)));
    }
    return params;
}

void ParamForm::setParams(const algo::Params& params) {
    for (const algo::ParamSpec& spec : m_specs)
        if (params.has(spec.name)) showValue(spec, params.value(spec.name));
}

void ParamForm::resetToDefaults() {
    for (const algo::ParamSpec& spec : m_specs) showValue(spec, spec.defaultValue);
}

}  // namespace wh::widgets
