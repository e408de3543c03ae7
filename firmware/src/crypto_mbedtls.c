/*
 * The agent's crypto on mbedTLS 2.28 (Debian bookworm's libmbedtls-dev; the API of the
 * 2.x LTS line). mbedTLS 3.x moved struct fields behind MBEDTLS_PRIVATE and added an RNG to
 * mbedtls_pk_parse_key: see README.md, "mbedTLS 3.x".
 */
#include "crypto.h"

#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_csr.h>

#include "agent.h"

typedef char sha256_context_fits[(sizeof(mbedtls_sha256_context) <= sizeof(((struct agent_sha256 *)0)->state)) ? 1 : -1];

static mbedtls_sha256_context *sha(struct agent_sha256 *ctx)
{
    return (mbedtls_sha256_context *)(void *)ctx->state.bytes;
}

void agent_sha256_start(struct agent_sha256 *ctx)
{
    mbedtls_sha256_init(sha(ctx));
    (void)mbedtls_sha256_starts_ret(sha(ctx), 0);
}

void agent_sha256_update(struct agent_sha256 *ctx, const uint8_t *data, size_t n)
{
    (void)mbedtls_sha256_update_ret(sha(ctx), data, n);
}

void agent_sha256_finish(struct agent_sha256 *ctx, uint8_t out[32])
{
    (void)mbedtls_sha256_finish_ret(sha(ctx), out);
    mbedtls_sha256_free(sha(ctx));
}

/* The port's random source, with a PROGRESS frame whenever one is due: mbedTLS asks for
 * random bytes throughout key generation and signing (blinding), so a slow MCU keeps the
 * host informed without threads. */
static int rng(void *p_rng, unsigned char *out, size_t n)
{
    struct agent *a = (struct agent *)p_rng;
    agent_progress_if_due(a);
    return a->port->random(a->port->ctx, out, n) == 0 ? 0 : -1;
}

/* mbedtls_pk_write_*_der write at the end of the buffer; move the DER to its start. */
static int to_front(uint8_t *buf, size_t cap, int written, size_t *len)
{
    if (written <= 0) {
        return -1;
    }
    memmove(buf, buf + cap - (size_t)written, (size_t)written);
    *len = (size_t)written;
    return 0;
}

int agent_keygen(struct agent *a, uint8_t *key, size_t key_cap, size_t *key_len, uint8_t *pub, size_t pub_cap,
                 size_t *pub_len)
{
    mbedtls_pk_context pk;
    int rc = -1;
    mbedtls_pk_init(&pk);
    if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) == 0 &&
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), rng, a) == 0 &&
        to_front(key, key_cap, mbedtls_pk_write_key_der(&pk, key, key_cap), key_len) == 0 &&
        to_front(pub, pub_cap, mbedtls_pk_write_pubkey_der(&pk, pub, pub_cap), pub_len) == 0) {
        rc = 0;
    }
    mbedtls_pk_free(&pk);
    return rc;
}

int agent_csr(struct agent *a, const uint8_t *key, size_t key_len, const char *cn, size_t cn_len, uint8_t *out,
              size_t cap, size_t *out_len)
{
    mbedtls_pk_context pk;
    mbedtls_x509write_csr req;
    mbedtls_asn1_named_data *name;
    int rc = -1;
    mbedtls_pk_init(&pk);
    mbedtls_x509write_csr_init(&req);
    if (mbedtls_pk_parse_key(&pk, key, key_len, NULL, 0) != 0) {
        goto done;
    }
    mbedtls_x509write_csr_set_md_alg(&req, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&req, &pk);
    /* The subject is stored directly, not parsed from "CN=...": a name holding ',' or '='
     * must stay one attribute (the spec: exactly one attribute, CN = the given name). */
    name = mbedtls_asn1_store_named_data(&req.subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN),
                                         (const unsigned char *)cn, cn_len);
    if (name == NULL) {
        goto done;
    }
    name->val.tag = MBEDTLS_ASN1_UTF8_STRING;
    if (to_front(out, cap, mbedtls_x509write_csr_der(&req, out, cap, rng, a), out_len) == 0) {
        rc = 0;
    }
done:
    mbedtls_x509write_csr_free(&req);
    mbedtls_pk_free(&pk);
    return rc;
}
