/* The C boundary cannot be crashed from outside: NULLs, invalid UTF-8, out-of-range enum values,
 * huge and deeply nested JSON, extreme numbers, unknown members, secrets in the wrong place,
 * documents that are not files, a cancelling progress callback, and one client used from several
 * threads at once. argv[1] is a running sandbox's directory, argv[2] a scratch directory.
 * Run under valgrind by scripts/test-c.sh: no errors and no leaks allowed. */
#include "efm.h"
#include "check.h"
#include "support.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Call `expr` (which takes &err), check its code and the error's field, and free the error. */
#define EXPECT(expr, code, field)                                                             \
    do {                                                                                      \
        efm_error *err = NULL;                                                                \
        efm_result got = (expr);                                                              \
        CHECK(got == (code));                                                                 \
        if (got != (code))                                                                    \
            fprintf(stderr, "  got %d: %s\n", (int)got, err ? efm_error_message(err) : "");     \
        CHECK(err != NULL && efm_error_code(err) == (code));                                  \
        if ((field) != NULL) {                                                                \
            const char *f = efm_error_field(err);                                             \
            CHECK(f != NULL && strcmp(f, (const char *)(field)) == 0);                        \
            if (f == NULL || strcmp(f, (const char *)(field)) != 0)                           \
                fprintf(stderr, "  field %s, message: %s\n", f ? f : "(null)", efm_error_message(err)); \
        }                                                                                     \
        CHECK(strlen(efm_error_message(err)) < 1000);                                         \
        efm_error_free(err);                                                                  \
    } while (0)

static const char *NO_FIELD = NULL;

static void on_log(void *userdata, efm_log_level level, const char *msg, size_t len) {
    (void)userdata; (void)level; (void)msg; (void)len;
}

static void test_enums(void) {
    /* max_level is an integer from C: only 0..5 are levels */
    CHECK(efm_set_logger(on_log, NULL, 6) == EFM_RESULT_INVALID_ARGUMENT);
    CHECK(efm_set_logger(on_log, NULL, 0xFFFFFFFFu) == EFM_RESULT_INVALID_ARGUMENT);
    CHECK(efm_set_logger(on_log, NULL, EFM_LOG_LEVEL_TRACE) == EFM_RESULT_OK);
    CHECK(efm_set_logger(NULL, NULL, EFM_LOG_LEVEL_OFF) == EFM_RESULT_OK);
    /* result codes are integers too: unknown ones have a group, never a crash */
    CHECK(strcmp(efm_result_group(0xFFFFFFFFu), "internal") == 0);
    CHECK(strcmp(efm_result_group(EFM_RESULT_CANCELLED), "invalid_input") == 0);
}

static void test_nulls(efm_client *c) {
    char *out = NULL;
    efm_client *none = NULL;
    EXPECT(efm_config_validate(NULL, NULL, &err), EFM_RESULT_INVALID_ARGUMENT, "config_json");
    EXPECT(efm_client_new(NULL, &none, &err), EFM_RESULT_INVALID_ARGUMENT, "config_json");
    EXPECT(efm_client_new("{}", NULL, &err), EFM_RESULT_INVALID_ARGUMENT, "client_out");
    CHECK(none == NULL);
    EXPECT(efm_client_config_json(NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "client");
    EXPECT(efm_client_lookup(c, NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "organisation_number");
    EXPECT(efm_client_send(NULL, "{}", NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "client");
    EXPECT(efm_client_send(c, NULL, NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "request_json");
    EXPECT(efm_client_send(c, "{}", NULL, NULL, NULL, &err), EFM_RESULT_INVALID_ARGUMENT, "message_json_out");
    EXPECT(efm_client_send_by_phase(NULL, "{}", NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "client");
    EXPECT(efm_client_send_by_phase(c, NULL, NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "request_json");
    EXPECT(efm_client_send_by_phase(c, "{}", NULL, NULL, NULL, &err), EFM_RESULT_INVALID_ARGUMENT, "message_json_out");
    EXPECT(efm_client_resend(c, NULL, NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "message_id");
    EXPECT(efm_client_poll(NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "client");
    EXPECT(efm_client_peek(c, NULL, &err), EFM_RESULT_INVALID_ARGUMENT, "message_json_out");
    EXPECT(efm_client_pop(c, "x", NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "target_dir");
    EXPECT(efm_client_delete(c, NULL, NULL, &err), EFM_RESULT_INVALID_ARGUMENT, "message_id");
    EXPECT(efm_client_status(c, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "message_id");
    EXPECT(efm_client_messages(c, "{}", NULL, &err), EFM_RESULT_INVALID_ARGUMENT, "messages_json_out");
    EXPECT(efm_client_expire(NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "client");
    CHECK(out == NULL);
    /* no error wanted: only the code */
    CHECK(efm_client_poll(NULL, &out, NULL) == EFM_RESULT_INVALID_ARGUMENT);
    /* accessors and releases take NULL */
    CHECK(efm_error_code(NULL) == EFM_RESULT_INVALID_ARGUMENT);
    CHECK(strcmp(efm_error_message(NULL), "") == 0);
    CHECK(strcmp(efm_error_detail_json(NULL), "{}") == 0);
    CHECK(efm_error_field(NULL) == NULL && efm_error_remote_code(NULL) == NULL);
    CHECK(efm_error_http_status(NULL) == 0 && !efm_error_retryable(NULL));
    efm_error_free(NULL);
    efm_string_free(NULL);
    efm_client_free(NULL);
}

static void test_utf8(efm_client *c) {
    char *out = NULL;
    EXPECT(efm_config_validate("{\"organisation_number\":\"\xff\xfe\"}", NULL, &err), EFM_RESULT_INVALID_UTF8,
           "config_json");
    EXPECT(efm_client_status(c, "\xc3\x28", &out, &err), EFM_RESULT_INVALID_UTF8, "message_id");
    EXPECT(efm_client_lookup(c, "910076787", "urn:\x80", &out, &err), EFM_RESULT_INVALID_UTF8, "process");
}

/* `prefix` + n copies of `fill` + `suffix`, malloc'ed. */
static char *repeat(const char *prefix, char fill, size_t n, const char *suffix) {
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = (char *)malloc(a + n + b + 1);
    memcpy(s, prefix, a);
    memset(s + a, fill, n);
    memcpy(s + a + n, suffix, b + 1);
    return s;
}

static void test_huge_and_deep(efm_client *c) {
    char *out = NULL, *json;
    /* a 16 MiB value where an organisation number belongs: refused, not echoed */
    json = repeat("{\"organisation_number\":\"", '9', 16u << 20, "\"}");
    EXPECT(efm_config_validate(json, NULL, &err), EFM_RESULT_INVALID_ORGANISATION_NUMBER, "organisation_number");
    free(json);
    /* a 1 MiB member name */
    json = repeat("{\"", 'k', 1u << 20, "\":1}");
    EXPECT(efm_client_messages(c, json, &out, &err), EFM_RESULT_INVALID_ARGUMENT, NO_FIELD);
    free(json);
    /* nesting beyond any sane depth: a clean error, no stack overflow */
    json = repeat("", '[', 1u << 20, "");
    EXPECT(efm_config_validate(json, NULL, &err), EFM_RESULT_CONFIG_INVALID, NO_FIELD);
    free(json);
    {
        /* {"sbd":{"avtalt":{"a":{"a":... 200000 levels deep, inside a member still read as free
           JSON (the SBD is typed; the bodies of message types efm has no model for are not) */
        static const char prefix[] = "{\"sbd\":{\"avtalt\":";
        size_t i, n = 200000, p = sizeof prefix - 1;
        json = (char *)malloc(p + 5 * n + 1);
        memcpy(json, prefix, p);
        for (i = 0; i < n; i++) memcpy(json + p + 5 * i, "{\"a\":", 5);
        json[p + 5 * n] = '\0';
        EXPECT(efm_client_send(c, json, NULL, NULL, &out, &err), EFM_RESULT_INVALID_JSON, NO_FIELD);
        free(json);
    }
    CHECK(out == NULL);
}

static void test_numbers(efm_client *c, const char *doc) {
    char *out = NULL, req[8192];
    static const char *ttls[] = {"4611686018427387904", "9223372036854775807", "-9223372036854775808", "0", "-1"};
    size_t i;
    for (i = 0; i < sizeof ttls / sizeof *ttls; i++) {
        snprintf(req, sizeof req,
                 "{\"receiver\":\"910076787\",\"ttl_secs\":%s,\"documents\":[{\"name\":\"arkivmelding.xml\",\"path\":\"%s\"}]}",
                 ttls[i], doc);
        EXPECT(efm_client_send(c, req, NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "ttl_secs");
    }
    /* beyond i64, and a float */
    snprintf(req, sizeof req, "{\"receiver\":\"910076787\",\"ttl_secs\":99999999999999999999,\"documents\":[]}");
    EXPECT(efm_client_send(c, req, NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "ttl_secs");
    EXPECT(efm_client_send(c, "{\"ttl_secs\":1e400,\"documents\":[]}", NULL, NULL, &out, &err), EFM_RESULT_INVALID_JSON,
           NO_FIELD);
    EXPECT(efm_client_messages(c, "{\"limit\":-1}", &out, &err), EFM_RESULT_INVALID_ARGUMENT, "limit");
    EXPECT(efm_client_messages(c, "{\"limit\":4294967296}", &out, &err), EFM_RESULT_INVALID_ARGUMENT, "limit");
    EXPECT(efm_client_messages(c, "{\"limit\":1.5}", &out, &err), EFM_RESULT_INVALID_ARGUMENT, "limit");
    CHECK(out == NULL);
}

static void test_config_numbers(const char *sandbox) {
    char path[4096], *config, *json;
    size_t n;
    static const char *values[] = {"18446744073709551615", "18446744073709551616", "604801", "0", "-5"};
    size_t i;
    snprintf(path, sizeof path, "%s/910075918/config.json", sandbox);
    config = read_file(path);
    CHECK(config != NULL);
    if (!config) return;
    /* the configuration is one object: splice a member in after its opening brace */
    n = strlen(config) + 200;
    json = (char *)malloc(n);
    for (i = 0; i < sizeof values / sizeof *values; i++) {
        snprintf(json, n, "{\"timeouts\":{\"request_secs\":%s},%s", values[i], strchr(config, '{') + 1);
        EXPECT(efm_config_validate(json, NULL, &err), EFM_RESULT_CONFIG_INVALID, "timeouts.request_secs");
        snprintf(json, n, "{\"registry_cache_secs\":%s,%s", values[i], strchr(config, '{') + 1);
        if (strcmp(values[i], "0") != 0)
            EXPECT(efm_config_validate(json, NULL, &err), EFM_RESULT_CONFIG_INVALID, "registry_cache_secs");
    }
    /* a password given as a number is refused without being echoed */
    snprintf(json, n, "{\"altinn2\":{\"username\":\"u\",\"password\":918273645},%s", strchr(config, '{') + 1);
    {
        efm_error *err = NULL;
        CHECK(efm_config_validate(json, NULL, &err) == EFM_RESULT_CONFIG_INVALID);
        CHECK(err != NULL && strstr(efm_error_message(err), "918273645") == NULL);
        CHECK(err != NULL && strstr(efm_error_detail_json(err), "918273645") == NULL);
        CHECK(err != NULL && efm_error_field(err) != NULL && strcmp(efm_error_field(err), "altinn2.password") == 0);
        efm_error_free(err);
    }
    free(json);
    free(config);
}

static void test_strict_requests(efm_client *c, const char *doc) {
    char *out = NULL, req[8192];
    snprintf(req, sizeof req,
             "{\"receiver\":\"910076787\",\"ttl\":60,\"documents\":[{\"name\":\"arkivmelding.xml\",\"path\":\"%s\"}]}", doc);
    EXPECT(efm_client_send(c, req, NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "ttl");
    snprintf(req, sizeof req, "{\"receiver\":\"910076787\",\"documents\":[{\"name\":\"a.xml\",\"path\":\"%s\",\"mime_type\":\"x\"}]}",
             doc);
    EXPECT(efm_client_send(c, req, NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "documents[0].mime_type");
    EXPECT(efm_client_send(c, "{\"receiver\":910076787}", NULL, NULL, &out, &err), EFM_RESULT_INVALID_ARGUMENT, "receiver");
    EXPECT(efm_client_messages(c, "{\"stauts\":\"LEVERT\"}", &out, &err), EFM_RESULT_INVALID_ARGUMENT, "stauts");
    EXPECT(efm_client_messages(c, "{\"status\":\"LEVRT\"}", &out, &err), EFM_RESULT_INVALID_ARGUMENT, "status");
    EXPECT(efm_client_messages(c, "{\"direction\":\"sideways\"}", &out, &err), EFM_RESULT_INVALID_ARGUMENT, "direction");
    EXPECT(efm_client_messages(c, "[]", &out, &err), EFM_RESULT_INVALID_ARGUMENT, NO_FIELD);
    /* documents that are not regular files are refused at once (/dev/zero would never end) */
    EXPECT(efm_client_send(c, "{\"receiver\":\"910076787\",\"documents\":[{\"name\":\"arkivmelding.xml\",\"path\":\"/dev/zero\"}]}",
                           NULL, NULL, &out, &err),
           EFM_RESULT_INVALID_ARGUMENT, "documents[0].path");
    EXPECT(efm_client_send(c, "{\"receiver\":\"910076787\",\"documents\":[{\"name\":\"arkivmelding.xml\",\"path\":\"/tmp\"}]}",
                           NULL, NULL, &out, &err),
           EFM_RESULT_INVALID_ARGUMENT, "documents[0].path");
    EXPECT(efm_client_send(c, "{\"receiver\":\"910076787\",\"documents\":[{\"name\":\"a\\u0000b\",\"path\":\"/tmp\"}]}",
                           NULL, NULL, &out, &err),
           EFM_RESULT_INVALID_ARGUMENT, "documents[0].name");
    /* the valid forms still work */
    CHECK(efm_client_messages(c, "{\"direction\":\"outgoing\",\"status\":\"LEVERT\",\"limit\":5}", &out, NULL) == EFM_RESULT_OK);
    efm_string_free(out);
}

static bool cancel_at_once(void *userdata, uint64_t done, uint64_t total) {
    (void)done; (void)total;
    (*(int *)userdata)++;
    return false;
}

static bool cancel_phase_at_once(void *userdata, efm_phase phase, uint64_t done, uint64_t total) {
    (void)done; (void)total;
    *(efm_phase *)userdata = phase;
    return false;
}

static void test_cancel(efm_client *c, const char *xml) {
    char req[8192], *out = NULL, *list = NULL;
    int calls = 0;
    efm_error *err = NULL;
    snprintf(req, sizeof req, "{\"receiver\":\"910076787\",\"documents\":[{\"name\":\"arkivmelding.xml\",\"path\":\"%s\"}]}", xml);
    CHECK(efm_client_send(c, req, cancel_at_once, &calls, &out, &err) == EFM_RESULT_CANCELLED);
    CHECK(calls == 1);
    CHECK(out == NULL);
    CHECK(err != NULL && strstr(efm_error_message(err), "cancelled") != NULL);
    efm_error_free(err);
    err = NULL;
    /* by phase: the first report is packing, and false there cancels too */
    {
        efm_phase phase = 0;
        CHECK(efm_client_send_by_phase(c, req, cancel_phase_at_once, &phase, &out, &err) == EFM_RESULT_CANCELLED);
        CHECK(phase == EFM_PHASE_PACKING);
        CHECK(out == NULL);
        efm_error_free(err);
        err = NULL;
    }
    /* the message is kept as FEIL and can be sent again */
    CHECK(efm_client_messages(c, "{\"direction\":\"outgoing\",\"status\":\"FEIL\",\"limit\":1}", &list, NULL) == EFM_RESULT_OK);
    CHECK(list != NULL && strstr(list, "\"FEIL\"") != NULL);
    efm_string_free(list);
}

struct shared {
    efm_client *client;
    int failures;
};

static void *hammer(void *arg) {
    struct shared *s = (struct shared *)arg;
    int i, bad = 0;
    for (i = 0; i < 40; i++) {
        char *out = NULL;
        efm_error *err = NULL;
        if (efm_client_messages(s->client, "{\"limit\":3}", &out, NULL) != EFM_RESULT_OK) bad++;
        efm_string_free(out);
        out = NULL;
        if (efm_client_config_json(s->client, &out, NULL) != EFM_RESULT_OK) bad++;
        efm_string_free(out);
        out = NULL;
        if (efm_client_status(s->client, "00000000-0000-4000-8000-000000000000", &out, &err) != EFM_RESULT_NOT_FOUND) bad++;
        efm_error_free(err);
        if (efm_client_peek(s->client, &out, NULL) != EFM_RESULT_OK) bad++;
        efm_string_free(out);
    }
    if (bad) s->failures += bad; /* read after join only */
    return NULL;
}

static void test_threads(efm_client *c) {
    pthread_t t[4];
    struct shared s[4];
    int i;
    for (i = 0; i < 4; i++) {
        s[i].client = c;
        s[i].failures = 0;
        CHECK(pthread_create(&t[i], NULL, hammer, &s[i]) == 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(s[i].failures == 0);
    }
}

int main(int argc, char **argv) {
    char xml[4096];
    efm_client *c;
    FILE *f;
    if (argc < 3) {
        fprintf(stderr, "usage: %s SANDBOX_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    snprintf(xml, sizeof xml, "%s/arkivmelding.xml", argv[2]);
    f = fopen(xml, "w");
    if (f) { fputs("<arkivmelding/>\n", f); fclose(f); }
    c = client_for(argv[1], "910075918");
    if (!c) return check_summary("c boundary");

    test_enums();
    test_nulls(c);
    test_utf8(c);
    test_huge_and_deep(c);
    test_numbers(c, xml);
    test_config_numbers(argv[1]);
    test_strict_requests(c, xml);
    test_threads(c);
    test_cancel(c, xml);

    efm_client_free(c);
    return check_summary("c boundary");
}
