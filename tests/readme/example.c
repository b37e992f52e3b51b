#include "efm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print a failure: code, group, message and, when the error is about one input field, its name. */
static void report(const char *what, efm_error *err) {
    const char *field = efm_error_field(err); /* NULL when no single field is at fault */
    fprintf(stderr, "%s: %s (%u, %s%s%s)\n", what, efm_error_message(err), (unsigned)efm_error_code(err),
            efm_result_group(efm_error_code(err)), field ? ", field " : "", field ? field : "");
    efm_error_free(err);
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (text = (char *)malloc((size_t)n + 1)) != NULL) {
        text[fread(text, 1, (size_t)n, f)] = '\0';
    }
    fclose(f);
    return text;
}

static bool on_progress(void *userdata, uint64_t done, uint64_t total) {
    (void)userdata;
    printf("%llu/%llu\n", (unsigned long long)done, (unsigned long long)total);
    return true; /* false cancels the send (EFM_RESULT_CANCELLED) */
}

int main(void) {
    efm_client *client = NULL;
    efm_error *err = NULL;
    char *config = read_all("efm.json"), *sent = NULL, *summary = NULL, *msg = NULL, *opened = NULL;
    const char *request =
        "{\"receiver\": \"910076787\", \"documents\": ["
        "{\"name\": \"arkivmelding.xml\", \"path\": \"arkivmelding.xml\"},"
        "{\"name\": \"vedtak.pdf\", \"path\": \"vedtak.pdf\"}]}";

    if (!config) { perror("efm.json"); return 1; }
    if (efm_client_new(config, &client, &err) != EFM_RESULT_OK) {
        report("configuration", err);
        free(config);
        return 1;
    }
    free(config);
    if (efm_client_send(client, request, on_progress, NULL, &sent, &err) != EFM_RESULT_OK) {
        report("send", err);
        efm_client_free(client);
        return 1;
    }
    printf("sent: %s\n", sent); /* {"message_id": ..., "status": "SENDT", ...} */
    efm_string_free(sent);

    if (efm_client_poll(client, &summary, &err) == EFM_RESULT_OK) {
        printf("polled: %s\n", summary); /* {"received": [...], "statuses": ..., ...} */
        efm_string_free(summary);
    } else {
        report("poll", err);
        err = NULL;
    }
    /* Incoming messages, oldest first; msg is NULL when the queue is empty. A real program reads
     * "message_id" from msg with its JSON library; the example pops the id it names. */
    while (efm_client_peek(client, &msg, NULL) == EFM_RESULT_OK && msg != NULL) {
        char id[64] = "";
        const char *at = strstr(msg, "\"message_id\":\"");
        if (at) sscanf(at + 14, "%63[^\"]", id);
        efm_string_free(msg);
        if (efm_client_pop(client, id, "inbox", &opened, &err) != EFM_RESULT_OK) {
            report("pop", err);
            break;
        }
        printf("opened: %s\n", opened); /* the files, written under inbox/ */
        efm_string_free(opened);
        efm_client_delete(client, id, NULL, NULL); /* LEVERT goes back to the sender */
    }
    efm_client_free(client);
    return 0;
}
