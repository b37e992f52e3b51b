/* A stand-in for Windows' bcryptprimitives.dll, for running the Windows test programs under Wine 8
 * only (never shipped). Rust's standard library (1.78+) imports ProcessPrng from
 * bcryptprimitives.dll, which Windows 10 / Server 2016 and newer have and Wine 8 lacks. This
 * forwards to BCryptGenRandom with the system RNG, which Wine implements. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x7fffffffUL ? 0x7fffffffUL : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
