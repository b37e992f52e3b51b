/* TLS of the Windows build, through the C ABI, under Wine (scripts/test-windows.sh): SChannel and
 * the Windows certificate store decide whom efm.dll trusts, and a configured ca_bundle adds to the
 * store's roots instead of replacing them. The servers are `openssl s_server` on 127.0.0.1 (an
 * independent TLS implementation); the Maskinporten token URL of a sandbox configuration points
 * at them, so a lookup starts with a TLS handshake there. s_server is no token endpoint, so past
 * the handshake the lookup still fails, but not with a TLS or network error.
 *
 *   test_tls STORE_CA.der PRIVATE_CA.pem CONFIG PRIVATE_URL STORE_URL
 *
 * PRIVATE_URL's certificate is issued by PRIVATE_CA (in no store), STORE_URL's by STORE_CA, which
 * this program puts into the current user's ROOT store (of the test's own Wine prefix) for the
 * checks that need it, and takes out again. */
#include <windows.h>
#include <wincrypt.h>

#include "efm.h"
#include "check.h"
#include "support.h"

#include <stdlib.h>
#include <string.h>

/* Adds (add != 0) or removes the DER certificate in der_path to/from the current user's ROOT store. */
static int change_root(const char *der_path, int add) {
    FILE *f = fopen(der_path, "rb");
    unsigned char buf[8192];
    size_t n;
    HCERTSTORE store;
    BOOL ok = FALSE;
    if (!f) return 0;
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    store = CertOpenStore(CERT_STORE_PROV_SYSTEM_A, 0, 0, CERT_SYSTEM_STORE_CURRENT_USER, "ROOT");
    if (!store) return 0;
    if (add) {
        ok = CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING, buf, (DWORD)n, CERT_STORE_ADD_REPLACE_EXISTING, NULL);
    } else {
        PCCERT_CONTEXT wanted = CertCreateCertificateContext(X509_ASN_ENCODING, buf, (DWORD)n);
        PCCERT_CONTEXT found = wanted ? CertFindCertificateInStore(store, X509_ASN_ENCODING, 0, CERT_FIND_EXISTING, wanted, NULL) : NULL;
        if (found) ok = CertDeleteCertificateFromStore(found); /* frees found */
        if (wanted) CertFreeCertificateContext(wanted);
    }
    CertCloseStore(store, 0);
    return ok != 0;
}

/* The configuration with the token URL replaced, and a ca_bundle when bundle is not NULL. */
static char *config_for(const char *base, const char *url, const char *bundle) {
    const char *body = strchr(base, '{');
    size_t n = strlen(base) + strlen(url) + (bundle ? strlen(bundle) : 0) + 128;
    char *s = (char *)malloc(n);
    if (bundle)
        snprintf(s, n, "{\"urls\":{\"maskinporten_token\":\"%s\"},\"ca_bundle\":\"%s\",%s", url, bundle, body + 1);
    else
        snprintf(s, n, "{\"urls\":{\"maskinporten_token\":\"%s\"},%s", url, body + 1);
    return s;
}

static char last_message[1024];

/* The result of a lookup with that configuration; the error message is kept in last_message. */
static efm_result lookup_with(const char *base, const char *url, const char *bundle) {
    char *config = config_for(base, url, bundle);
    efm_client *client = NULL;
    efm_error *err = NULL;
    char *json = NULL;
    efm_result r = efm_client_new(config, &client, &err);
    printf("lookup through %s%s\n", url, bundle ? " with ca_bundle" : "");
    if (r == EFM_RESULT_OK) r = efm_client_lookup(client, "910076787", NULL, &json, &err);
    last_message[0] = '\0';
    if (err) {
        snprintf(last_message, sizeof last_message, "%s", efm_error_message(err));
        printf("  -> %s\n", last_message);
        efm_error_free(err);
    }
    efm_string_free(json);
    efm_client_free(client);
    free(config);
    return r;
}

static int past_tls(efm_result r) {
    return r != EFM_RESULT_TLS && r != EFM_RESULT_OK && (r < 400 || r >= 500);
}

/* Wine's crypt32 differs from Windows here: it accepts a chain to an unknown root, and it fails
 * chains verified against custom roots (native-tls's mode for a ca_bundle) with
 * CERT_E_REVOCATION_FAILURE. Those checks are skipped under Wine; they hold on Windows. */
static int under_wine(void) {
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");
    return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

static int skipped = 0;
#define CHECK_NOT_ON_WINE(cond)                                                  \
    do {                                                                         \
        if (wine) {                                                              \
            skipped++;                                                           \
            printf("  skipped under Wine: %s\n", #cond);                         \
        } else {                                                                 \
            CHECK(cond);                                                         \
        }                                                                        \
    } while (0)

int main(int argc, char **argv) {
    char *base;
    int wine = under_wine();
    efm_result r;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 6) {
        fprintf(stderr, "usage: %s STORE_CA.der PRIVATE_CA.pem CONFIG PRIVATE_URL STORE_URL\n", argv[0]);
        return 2;
    }
    base = read_file(argv[3]);
    CHECK(base != NULL && strchr(base, '{') != NULL);
    if (!base) return check_summary("windows tls");

    /* A private CA is not trusted by the Windows store ... */
    r = lookup_with(base, argv[4], NULL);
    CHECK_NOT_ON_WINE(r == EFM_RESULT_TLS);
    /* ... until the configuration's ca_bundle names it. */
    r = lookup_with(base, argv[4], argv[2]);
    CHECK_NOT_ON_WINE(past_tls(r));

    CHECK(change_root(argv[1], 1));
    /* A root in the Windows store is trusted ... */
    CHECK(past_tls(lookup_with(base, argv[5], NULL)));
    /* ... and still is with a ca_bundle: the bundle adds to the store. Under Wine at least the
     * store's root must be among the roots efm hands to SChannel (else native-tls says it found
     * none of the "user-specified roots" in the chain). */
    r = lookup_with(base, argv[5], argv[2]);
    CHECK(strstr(last_message, "user-specified roots") == NULL);
    CHECK_NOT_ON_WINE(past_tls(r));
    CHECK(change_root(argv[1], 0));

    free(base);
    printf("windows tls: %d passed, %d failed, %d skipped\n", checks_passed, checks_failed, skipped);
    return checks_failed == 0 ? 0 : 1;
}
