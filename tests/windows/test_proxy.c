/* The Windows system proxy, through the C ABI, under Wine (scripts/test-windows.sh): a lookup
 * against the sandbox with "proxy": "system" must succeed; whether it went through the proxy the
 * script set in the Wine prefix's registry (Internet Options, a PAC script, or WinHTTP's machine
 * setting) is judged by that script from the proxy's own log.
 *
 *   test_proxy CONFIG
 */
#include "efm.h"
#include "check.h"
#include "support.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char *base, *config;
    const char *body;
    size_t n;
    efm_client *client = NULL;
    efm_error *err = NULL;
    char *json = NULL;
    efm_result r;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
        return 2;
    }
    base = read_file(argv[1]);
    CHECK(base != NULL && strchr(base, '{') != NULL);
    if (!base || !strchr(base, '{')) return check_summary("windows proxy");
    body = strchr(base, '{');
    n = strlen(body) + 64;
    config = (char *)malloc(n);
    snprintf(config, n, "{\"proxy\":\"system\",%s", body + 1);

    r = efm_client_new(config, &client, &err);
    if (r == EFM_RESULT_OK) r = efm_client_lookup(client, "910076787", NULL, &json, &err);
    if (err) printf("  -> %s\n", efm_error_message(err));
    CHECK(r == EFM_RESULT_OK);
    CHECK(json != NULL && strstr(json, "\"organisation_number\":\"910076787\"") != NULL);
    efm_error_free(err);
    efm_string_free(json);
    efm_client_free(client);
    free(config);
    free(base);
    return check_summary("windows proxy");
}
