// backgroundPool(), tuneAllocatorForBigGraphs() (background.h).

#include "widgets/background.h"

#include <QCoreApplication>
#include <QThreadPool>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace wh::widgets {

QThreadPool* backgroundPool() {
    static QThreadPool* pool = [] {
        auto* p = new QThreadPool(QCoreApplication::instance());
        p->setMaxThreadCount(2);
        p->setObjectName(QStringLiteral("whittle-background"));
        return p;
    }();
    return pool;
}

void tuneAllocatorForBigGraphs() {
#ifdef __GLIBC__
    mallopt(M_MXFAST, 0);
#endif
}

}  // namespace wh::widgets
