// Must NOT compile as a plugin: the reference kernels' helpers are core/engine/ref's own.
#include "core/engine/ref/kernel_util.h"
