#pragma once
/// The OpenMP wait policy both applications run with (whittle-cli's computing commands and the
/// studio, whose jobs train and run models on the same kernels).

namespace wh::app {

/// Re-executes the program once with GOMP_SPINCOUNT=30000 unless the user chose an OpenMP wait
/// policy (OMP_WAIT_POLICY, GOMP_SPINCOUNT) or set WHITTLE_KEEP_OMP_POLICY=1. Call first in main,
/// before any thread starts.
void preferShortOpenMpSpins();

}  // namespace wh::app
