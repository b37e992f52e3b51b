/* The foundation through the C ABI: version and ABI check, error objects with details, a caught
 * panic, log lines arriving at the callback, configuration rejection, client lifetime.
 * Run under valgrind by scripts/test-c.sh: no errors and no leaks allowed. */
#include "efm.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static int log_lines = 0;
static int saw_client_line = 0;

static void on_log(void *userdata, efm_log_level level, const char *msg, size_t len) {
    int *counter = (int *)userdata;
    (*counter)++;
    log_lines++;
    if (level == EFM_LOG_LEVEL_INFO && strlen(msg) == len && strstr(msg, "client created for organisation 910075918")) {
        saw_client_line = 1;
    }
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Build a configuration document around a base directory. */
static char *config(const char *dir, const char *orgnr, const char *environment, const char *key) {
    static const char *fmt =
        "{\"organisation_number\":\"%s\",\"environment\":\"%s\",\"sandbox_url\":\"http://127.0.0.1:1\","
        "\"base_dir\":\"%s\",\"data_dir\":\"data\","
        "\"credentials\":{\"client_id\":\"c\",\"certificate_pem\":\"cert.pem\",\"private_key_pem\":\"%s\"}}";
    size_t n = strlen(fmt) + strlen(dir) + strlen(orgnr) + strlen(environment) + strlen(key) + 1;
    char *s = (char *)malloc(n);
    snprintf(s, n, fmt, orgnr, environment, dir, key);
    return s;
}

static void test_version(void) {
    CHECK(efm_abi_version() == EFM_ABI_VERSION);
    CHECK(strlen(efm_version()) > 0);
    CHECK(strcmp(efm_result_group(EFM_RESULT_OK), "ok") == 0);
    CHECK(strcmp(efm_result_group(EFM_RESULT_CONFIG_MISSING_FILE), "config") == 0);
    CHECK(strcmp(efm_result_group(EFM_RESULT_UNSAFE_ENTRY), "package") == 0);
}

static void test_config_errors(const char *dir) {
    efm_error *err = NULL;
    char *summary = NULL;
    char *cfg;

    /* malformed JSON */
    CHECK(efm_config_validate("{\"organisation_number\":", NULL, &err) == EFM_RESULT_INVALID_JSON);
    CHECK(err != NULL);
    CHECK(efm_error_code(err) == EFM_RESULT_INVALID_JSON);
    CHECK(strstr(efm_error_message(err), "line 1") != NULL);
    efm_error_free(err);
    err = NULL;

    /* mod-11 failure, with the field in the detail */
    cfg = config(dir, "910075919", "sandbox", "key.pem");
    CHECK(efm_config_validate(cfg, &summary, &err) == EFM_RESULT_INVALID_ORGANISATION_NUMBER);
    CHECK(summary == NULL);
    CHECK(strstr(efm_error_message(err), "mod-11") != NULL);
    CHECK(strstr(efm_error_detail_json(err), "\"field\":\"organisation_number\"") != NULL);
    CHECK(strstr(efm_error_detail_json(err), "\"group\":\"invalid_input\"") != NULL);
    CHECK(efm_error_field(err) != NULL && strcmp(efm_error_field(err), "organisation_number") == 0);
    CHECK(efm_error_http_status(err) == 0);
    CHECK(efm_error_remote_code(err) == NULL);
    CHECK(!efm_error_retryable(err));
    efm_error_free(err);
    err = NULL;
    free(cfg);

    /* unknown environment */
    cfg = config(dir, "910075918", "moon", "key.pem");
    CHECK(efm_config_validate(cfg, NULL, &err) == EFM_RESULT_CONFIG_UNKNOWN_ENVIRONMENT);
    CHECK(strstr(efm_error_message(err), "moon") != NULL);
    efm_error_free(err);
    err = NULL;
    free(cfg);

    /* missing credential file: the message names the file */
    cfg = config(dir, "910075918", "sandbox", "missing-key.pem");
    CHECK(efm_config_validate(cfg, NULL, &err) == EFM_RESULT_CONFIG_MISSING_FILE);
    CHECK(strstr(efm_error_message(err), "missing-key.pem") != NULL);
    efm_error_free(err);
    err = NULL;
    free(cfg);

    /* the error out-param is optional */
    CHECK(efm_config_validate(NULL, NULL, NULL) == EFM_RESULT_INVALID_ARGUMENT);

    /* a good one gives a summary */
    cfg = config(dir, "910075918", "sandbox", "key.pem");
    CHECK(efm_config_validate(cfg, &summary, &err) == EFM_RESULT_OK);
    CHECK(err == NULL);
    CHECK(summary != NULL && strstr(summary, "\"maskinporten_audience\":\"http://127.0.0.1:1/maskinporten/\"") != NULL);
    efm_string_free(summary);
    free(cfg);

    /* NULL is accepted by every free function */
    efm_error_free(NULL);
    efm_string_free(NULL);
    efm_client_free(NULL);
}

static void test_panic(void) {
    efm_error *err = NULL;
    CHECK(efm_diagnostic_panic(&err) == EFM_RESULT_PANIC);
    CHECK(err != NULL && efm_error_code(err) == EFM_RESULT_PANIC);
    CHECK(strstr(efm_error_message(err), "efm_diagnostic_panic") != NULL);
    efm_error_free(err);
    /* still alive, and again */
    CHECK(efm_diagnostic_panic(NULL) == EFM_RESULT_PANIC);
}

static void test_client_and_log(const char *dir) {
    int counter = 0;
    efm_client *client = NULL;
    efm_error *err = NULL;
    char *json = NULL;
    char *cfg = config(dir, "910075918", "sandbox", "key.pem");

    CHECK(efm_set_logger(on_log, &counter, EFM_LOG_LEVEL_DEBUG) == EFM_RESULT_OK);
    CHECK(efm_client_new(cfg, &client, &err) == EFM_RESULT_OK);
    CHECK(client != NULL);
    CHECK(saw_client_line == 1);
    CHECK(counter > 0);
    CHECK(efm_client_config_json(client, &json, &err) == EFM_RESULT_OK);
    CHECK(json != NULL && strstr(json, "\"organisation_number\":\"910075918\"") != NULL);
    efm_string_free(json);
    efm_client_free(client);

    /* a missing out-pointer is an argument error, not a crash */
    CHECK(efm_client_new(cfg, NULL, &err) == EFM_RESULT_INVALID_ARGUMENT);
    efm_error_free(err);

    /* removing the logger stops the lines */
    CHECK(efm_set_logger(NULL, NULL, EFM_LOG_LEVEL_OFF) == EFM_RESULT_OK);
    counter = 0;
    client = NULL;
    CHECK(efm_client_new(cfg, &client, NULL) == EFM_RESULT_OK);
    CHECK(counter == 0);
    efm_client_free(client);
    free(cfg);
}

/* Whether a configuration summary's first "organisation_number" (the one acted for; the list of
   "organisations" follows it) is `orgnr`. */
static int acts_for(const char *summary, const char *orgnr) {
    static const char key[] = "\"organisation_number\":\"";
    const char *at = summary ? strstr(summary, key) : NULL;
    return at != NULL && strncmp(at + strlen(key), orgnr, 9) == 0;
}

/* One configuration, two organisations: a client for each, acting as that one. */
static void test_client_for_organisation(const char *dir) {
    efm_client *client = NULL;
    efm_error *err = NULL;
    char *json = NULL;
    char *one = config(dir, "910075918", "sandbox", "key.pem");
    /* the same document with "organisations": [{"organisation_number": "910076787"}] */
    size_t n = strlen(one) + 64;
    char *cfg = (char *)malloc(n);
    snprintf(cfg, n, "%.*s,\"organisations\":[{\"organisation_number\":\"910076787\"}]}",
             (int)(strlen(one) - 1), one);

    CHECK(efm_client_new_for_organisation(cfg, "910076787", &client, &err) == EFM_RESULT_OK);
    CHECK(efm_client_config_json(client, &json, &err) == EFM_RESULT_OK);
    CHECK(acts_for(json, "910076787"));
    efm_string_free(json);
    efm_client_free(client);

    /* NULL: the first, as efm_client_new() */
    client = NULL;
    CHECK(efm_client_new_for_organisation(cfg, NULL, &client, &err) == EFM_RESULT_OK);
    CHECK(efm_client_config_json(client, &json, &err) == EFM_RESULT_OK);
    CHECK(acts_for(json, "910075918"));
    efm_string_free(json);
    efm_client_free(client);

    /* one the configuration does not name: a configuration error naming the field */
    client = NULL;
    CHECK(efm_client_new_for_organisation(cfg, "984661185", &client, &err) == EFM_RESULT_CONFIG_INVALID);
    CHECK(client == NULL);
    CHECK(err != NULL && strcmp(efm_error_field(err), "organisation_number") == 0);
    CHECK(strstr(efm_error_message(err), "910076787") != NULL);
    efm_error_free(err);
    free(cfg);
    free(one);
}

int main(int argc, char **argv) {
    char path[4096];
    const char *dir;
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    write_file(path, "placeholder: only existence is checked at validation\n");
    snprintf(path, sizeof path, "%s/key.pem", dir);
    write_file(path, "placeholder\n");

    test_version();
    test_config_errors(dir);
    test_panic();
    test_client_and_log(dir);
    test_client_for_organisation(dir);
    CHECK(log_lines > 0);
    return check_summary("c foundation");
}
