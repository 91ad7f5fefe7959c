// Must NOT compile as a plugin: external data handling is internal to core/onnx.
#include "core/onnx/external_data.h"
