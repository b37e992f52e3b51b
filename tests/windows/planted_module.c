/* Stands for a DLL an attacker plants where OpenSSL might load code from (an engine or a provider
 * module named in an openssl.cnf). Loading it is the attack: DllMain writes the file named by the
 * environment variable EFM_PLANTED_MARKER, so scripts/test-windows.sh sees whether efm.dll loaded
 * it. Built by that script; never shipped. */
#include <windows.h>

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved) {
    (void)instance;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH) {
        char path[MAX_PATH];
        DWORD n = GetEnvironmentVariableA("EFM_PLANTED_MARKER", path, sizeof path);
        if (n > 0 && n < sizeof path) {
            HANDLE f = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
            if (f != INVALID_HANDLE_VALUE) {
                DWORD written;
                WriteFile(f, "loaded\n", 7, &written, NULL);
                CloseHandle(f);
            }
        }
    }
    return TRUE;
}
