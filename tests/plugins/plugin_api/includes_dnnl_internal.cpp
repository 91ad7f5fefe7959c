// Must NOT compile as a plugin: oneDNN kernels are core/engine/dnnl's own.
#include "core/engine/dnnl/dnnl_common.h"
