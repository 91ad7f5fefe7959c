#pragma once
/// Where the studio runs background work that no job tracks: freeing big graphs and layouts,
/// relaying out an expanded body. Not QThreadPool::globalInstance(): Qt's raster paint engine
/// splits large fills over that pool and waits for them on the GUI thread, so a long task
/// there stalls every repaint (seen as edits on a 100k-node graph taking 0.3-0.9 s to return
/// while old snapshots were freed there).

class QThreadPool;

namespace wh::widgets {

/// The pool (two threads; created on first use, owned by the application).
QThreadPool* backgroundPool();

/// Makes free() of the many small blocks a graph is made of cheap when other threads are
/// allocating: glibc's fastbins make a large free consolidate them under the arena's lock,
/// which stalled the snapshot copy an edit waits for by 200-300 ms at 100k nodes. Idempotent;
/// called by MainWindow's constructor.
void tuneAllocatorForBigGraphs();

}  // namespace wh::widgets
