#include "core/engine/threads.h"

#include <omp.h>

namespace wh::engine {

void setComputeThreads(int threads) {
    const int wanted = threads > 0 ? threads : omp_get_num_procs();
    if (omp_get_max_threads() != wanted) omp_set_num_threads(wanted);
}

int computeThreads() { return omp_get_max_threads(); }

}  // namespace wh::engine
