/* Helpers shared by the C tests that talk to efm-sandbox. */
#ifndef EFM_TEST_SUPPORT_H
#define EFM_TEST_SUPPORT_H
#include <stdio.h>
#include <stdlib.h>

/* The whole file as a NUL-terminated string (caller frees), or NULL. */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    long n;
    char *buf;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    buf[n] = '\0';
    fclose(f);
    return buf;
}
#endif
