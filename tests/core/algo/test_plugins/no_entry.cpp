// A test plugin without `whittle_plugin_entry`: a valid shared library, not a Whittle plugin.
extern "C" __attribute__((visibility("default"))) int whittle_not_an_entry(void) {
    return 42;
}
