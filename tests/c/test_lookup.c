/* A Service Registry lookup through the C ABI against a running efm-sandbox: the capabilities
 * JSON, the "receiver not found" error with its HTTP status, and argument checks.
 * argv[1] is the sandbox's client configuration for 910075918. Run under valgrind. */
#include "efm.h"
#include "check.h"
#include "support.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    efm_client *client = NULL;
    efm_error *err = NULL;
    char *json = NULL;
    char *config;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG_JSON_PATH\n", argv[0]);
        return 2;
    }
    config = read_file(argv[1]);
    CHECK(config != NULL);
    if (!config) return check_summary("c lookup");

    CHECK(efm_client_new(config, &client, &err) == EFM_RESULT_OK);

    CHECK(efm_client_lookup(client, "910076787", "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0", &json, &err) == EFM_RESULT_OK);
    CHECK(json != NULL && strstr(json, "\"organisation_number\":\"910076787\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"signed\":true") != NULL);
    CHECK(json != NULL && strstr(json, "\"service_identifier\":\"DPO\"") != NULL);
    efm_string_free(json);
    json = NULL;

    /* all processes */
    CHECK(efm_client_lookup(client, "910076787", NULL, &json, NULL) == EFM_RESULT_OK);
    efm_string_free(json);
    json = NULL;

    /* a valid number nobody registered */
    CHECK(efm_client_lookup(client, "974720760", NULL, &json, &err) == EFM_RESULT_RECEIVER_NOT_FOUND);
    CHECK(json == NULL);
    CHECK(efm_error_http_status(err) == 404);
    CHECK(strstr(efm_error_message(err), "974720760") != NULL);
    efm_error_free(err);
    err = NULL;

    /* argument checks */
    CHECK(efm_client_lookup(client, "91007678", NULL, &json, &err) == EFM_RESULT_INVALID_ORGANISATION_NUMBER);
    efm_error_free(err);
    err = NULL;
    CHECK(efm_client_lookup(NULL, "910076787", NULL, &json, NULL) == EFM_RESULT_INVALID_ARGUMENT);
    CHECK(efm_client_lookup(client, "910076787", NULL, NULL, NULL) == EFM_RESULT_INVALID_ARGUMENT);

    efm_client_free(client);
    free(config);
    return check_summary("c lookup");
}
