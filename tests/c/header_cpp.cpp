// The header must compile as C++ too (extern "C", enum underlying types); this also links one call.
#include "efm.h"
#include <cstdio>

int main() {
    efm_result r = efm_diagnostic_panic(nullptr);
    std::printf("c++ header: %d passed, %d failed\n", r == EFM_RESULT_PANIC ? 1 : 0, r == EFM_RESULT_PANIC ? 0 : 1);
    return r == EFM_RESULT_PANIC ? 0 : 1;
}
