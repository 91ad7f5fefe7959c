#include "app/omp_policy.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace wh::app {

// libgomp (which oneDNN and our kernels use) reads its wait policy once, when it is loaded: by
// default a thread that finishes a parallel region spins ~300,000 rounds (milliseconds) before it
// sleeps. On a machine whose cores are shared with other processes the spinning thread takes the
// CPU from the one still working, and every one of the few hundred parallel regions of a training
// step waits a scheduler slice: 3-5x slower training and inference with 2 threads under load, and
// a GPT-style decoder took 364 ms instead of 6.5 ms. Too short a spin (1000, what libgomp uses
// when threads outnumber cores, and what we used until 2026-12-03) puts threads to sleep between
// every two short kernels: a small CNN took 0.32 ms at batch 1 instead of 0.03 ms, idle. Measured
// 2026-12-03 (AMD EPYC, 2 threads; "load" = two busy loops on the two cores):
//                                     spin 1000   spin 30000   default 300000
//   CNN classifier, batch 1, idle       0.324 ms     0.028 ms       0.032 ms
//   CNN classifier, batch 64, load      4.006 ms     1.109 ms       0.849 ms
//   GPT decoder 4x128, load             11.23 ms      6.54 ms      364.0 ms
//   ResNet-20 training, idle / load   1080 / 371   1038 / 468   (images/s)
// So unless the user chose a policy, re-execute once with GOMP_SPINCOUNT=30000.
// WHITTLE_KEEP_OMP_POLICY=1 disables this.
void preferShortOpenMpSpins() {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") ||
        std::getenv("WHITTLE_KEEP_OMP_POLICY"))
        return;
    std::FILE* f = std::fopen("/proc/self/cmdline", "rb");
    if (!f) return;
    std::string all;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) all.append(buf, n);
    std::fclose(f);
    std::vector<std::string> args;
    for (std::size_t pos = 0; pos < all.size();) {
        const std::size_t end = all.find('\0', pos);
        args.push_back(all.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
        if (end == std::string::npos) break;
        pos = end + 1;
    }
    if (args.empty()) return;
    std::vector<char*> argv;
    for (std::string& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::setenv("GOMP_SPINCOUNT", "30000", 1);
    std::fflush(nullptr);
    ::execv("/proc/self/exe", argv.data());
    ::unsetenv("GOMP_SPINCOUNT");  // exec failed: carry on with the default policy
}

}  // namespace wh::app
