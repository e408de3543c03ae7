/* The agent's use of a crypto library: SHA-256, an EC P-256 key pair, a PKCS#10 CSR. */
#ifndef AGENT_CRYPTO_H
#define AGENT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

struct agent;

struct agent_sha256 {
    union {
        uint64_t align;
        void *pointer;
        uint8_t bytes[256];
    } state; /* opaque: the library's context, checked to fit at compile time */
};

void agent_sha256_start(struct agent_sha256 *ctx);
void agent_sha256_update(struct agent_sha256 *ctx, const uint8_t *data, size_t n);
void agent_sha256_finish(struct agent_sha256 *ctx, uint8_t out[32]);

/* Make a key pair: the private key (DER) into key, the public key (DER SubjectPublicKeyInfo)
 * into pub. Returns 0, or negative when the random source failed. */
int agent_keygen(struct agent *a, uint8_t *key, size_t key_cap, size_t *key_len, uint8_t *pub, size_t pub_cap,
                 size_t *pub_len);
/* A DER CSR with subject CN=cn (exactly one attribute), signed ECDSA-SHA256 with the key. */
int agent_csr(struct agent *a, const uint8_t *key, size_t key_len, const char *cn, size_t cn_len, uint8_t *out,
              size_t cap, size_t *out_len);

#endif
