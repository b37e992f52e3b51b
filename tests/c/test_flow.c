/* The message flow through the C ABI against a running efm-sandbox: 910075918 sends an
 * arkivmelding with a document to 910076787 (with a progress callback), 910076787 polls, peeks,
 * pops and deletes it, and 910075918 sees MOTTATT and LEVERT. argv[1] is the sandbox directory,
 * argv[2] a scratch directory. Run under valgrind. */
#include "efm.h"
#include "check.h"
#include "support.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct progress {
    uint64_t done, total;
    int calls;
};

static bool on_progress(void *userdata, uint64_t done, uint64_t total) {
    struct progress *p = (struct progress *)userdata;
    p->done = done;
    p->total = total;
    p->calls++;
    return true;
}

static void pause_a_little(void) {
    struct timespec t;
    t.tv_sec = 0;
    t.tv_nsec = 300 * 1000 * 1000;
    nanosleep(&t, NULL);
}

/* Copy the value of "key":"..." from a JSON text (enough for ids in these answers). */
static int json_string(const char *json, const char *key, char *out, size_t n) {
    char pattern[64];
    const char *at, *end;
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    at = strstr(json, pattern);
    if (!at) return 0;
    at += strlen(pattern);
    end = strchr(at, '"');
    if (!end || (size_t)(end - at) >= n) return 0;
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = '\0';
    return 1;
}

int main(int argc, char **argv) {
    const char *sandbox, *scratch;
    char request[9000], doc[4096], xml[4096], inbox[4096], id[64] = "";
    efm_client *a, *b;
    efm_error *err = NULL;
    char *json = NULL;
    struct progress progress = {0, 0, 0};
    int i, delivered = 0, levert = 0;
    FILE *f;

    if (argc < 3) {
        fprintf(stderr, "usage: %s SANDBOX_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    sandbox = argv[1];
    scratch = argv[2];
    snprintf(xml, sizeof xml, "%s/arkivmelding.xml", scratch);
    snprintf(doc, sizeof doc, "%s/brev.pdf", scratch);
    snprintf(inbox, sizeof inbox, "%s/inbox", scratch);
    f = fopen(xml, "w");
    if (f) { fputs("<arkivmelding/>\n", f); fclose(f); }
    f = fopen(doc, "wb");
    if (f) { for (i = 0; i < 100000; i++) fputc(i * 31 % 251, f); fclose(f); }

    a = client_for(sandbox, "910075918");
    b = client_for(sandbox, "910076787");
    if (!a || !b) return check_summary("c flow");

    snprintf(request, sizeof request,
             "{\"receiver\":\"910076787\",\"documents\":[{\"name\":\"arkivmelding.xml\",\"path\":\"%s\"},"
             "{\"name\":\"brev.pdf\",\"path\":\"%s\"}]}", xml, doc);
    CHECK(efm_client_send(a, request, on_progress, &progress, &json, &err) == EFM_RESULT_OK);
    if (err) { fprintf(stderr, "send: %s\n", efm_error_message(err)); efm_error_free(err); err = NULL; }
    CHECK(json != NULL && strstr(json, "\"status\":\"SENDT\"") != NULL);
    CHECK(json != NULL && json_string(json, "message_id", id, sizeof id));
    CHECK(progress.calls > 0 && progress.total > 0 && progress.done == progress.total);
    efm_string_free(json);
    json = NULL;

    /* what is due for sending: nothing left to upload (the transfer may still be followed) */
    CHECK(efm_client_run_due(a, &json, NULL) == EFM_RESULT_OK);
    CHECK(json != NULL && strstr(json, "\"waiting_uploads\":0") != NULL);
    efm_string_free(json);
    json = NULL;

    /* the receiver: poll until it arrives (the broker publishes after its virus scan) */
    for (i = 0; i < 60 && !delivered; i++) {
        CHECK(efm_client_poll(b, &json, NULL) == EFM_RESULT_OK);
        delivered = json != NULL && strstr(json, id) != NULL;
        efm_string_free(json);
        json = NULL;
        if (!delivered) pause_a_little();
    }
    CHECK(delivered);
    CHECK(efm_client_peek(b, &json, NULL) == EFM_RESULT_OK);
    CHECK(json != NULL && strstr(json, id) != NULL);
    efm_string_free(json);
    json = NULL;
    CHECK(efm_client_pop(b, id, inbox, &json, &err) == EFM_RESULT_OK);
    CHECK(json != NULL && strstr(json, "brev.pdf") != NULL && strstr(json, "\"size\":100000") != NULL);
    efm_string_free(json);
    json = NULL;
    CHECK(efm_client_delete(b, id, NULL, NULL) == EFM_RESULT_OK);
    CHECK(efm_client_peek(b, &json, NULL) == EFM_RESULT_OK);
    CHECK(json == NULL); /* the queue is empty */

    /* the sender: MOTTATT and LEVERT come back */
    for (i = 0; i < 60 && !levert; i++) {
        CHECK(efm_client_poll(a, &json, NULL) == EFM_RESULT_OK);
        efm_string_free(json);
        json = NULL;
        CHECK(efm_client_status(a, id, &json, NULL) == EFM_RESULT_OK);
        levert = json != NULL && strstr(json, "\"LEVERT\"") != NULL;
        if (levert) CHECK(strstr(json, "\"MOTTATT\"") != NULL && strstr(json, "\"OPPRETTET\"") != NULL);
        efm_string_free(json);
        json = NULL;
        if (!levert) pause_a_little();
    }
    CHECK(levert);

    /* errors: an unknown message, bad request JSON */
    CHECK(efm_client_status(a, "00000000-0000-4000-8000-000000000000", &json, &err) == EFM_RESULT_NOT_FOUND);
    efm_error_free(err);
    err = NULL;
    CHECK(efm_client_send(a, "{\"receiver\":", NULL, NULL, &json, NULL) == EFM_RESULT_INVALID_JSON);

    efm_client_free(a);
    efm_client_free(b);
    return check_summary("c flow");
}
