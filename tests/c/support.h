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

#ifdef EFM_H
/* A client for one of the sandbox's organisations (SANDBOX_DIR/ORGNR/config.json), or NULL. */
static inline efm_client *client_for(const char *sandbox, const char *orgnr) {
    char path[4096];
    char *config;
    efm_client *client = NULL;
    snprintf(path, sizeof path, "%s/%s/config.json", sandbox, orgnr);
    config = read_file(path);
    CHECK(config != NULL);
    if (config) {
        CHECK(efm_client_new(config, &client, NULL) == EFM_RESULT_OK);
        free(config);
    }
    return client;
}
#endif
#endif
