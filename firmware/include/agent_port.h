/*
 * The port layer: everything the agent needs from the board it runs on.
 * A port fills one struct agent_port with functions; the agent calls nothing else
 * of the platform. See README.md for Zephyr, ESP-IDF and STM32 HAL sketches.
 */
#ifndef AGENT_PORT_H
#define AGENT_PORT_H

#include <stddef.h>
#include <stdint.h>

/* Storage slots: the three claim objects use their protocol ids. */
enum agent_slot {
    AGENT_SLOT_ROOT_CA = 0x01,
    AGENT_SLOT_CLAIM_CERT = 0x02,
    AGENT_SLOT_CLAIM_KEY = 0x03,
    AGENT_SLOT_DEVICE_KEY = 0x10, /* the device private key (DER), never sent anywhere */
    AGENT_SLOT_COMMITTED = 0x11   /* one byte, present once COMMIT succeeded */
};

struct agent_port {
    void *ctx;

    /* Read up to n bytes, waiting at most timeout_ms for the first one.
     * Returns the count (0 on timeout) or a negative value when the link is gone. */
    int (*uart_read)(void *ctx, uint8_t *buf, size_t n, uint32_t timeout_ms);
    /* Write all n bytes (blocking). Returns 0, or negative when the link is gone. */
    int (*uart_write)(void *ctx, const uint8_t *buf, size_t n);

    /* Replace the content of a slot atomically: after a power cut the slot holds either
     * the old or the new bytes, never a mix. Returns 0 or negative. */
    int (*store_write)(void *ctx, uint8_t slot, const uint8_t *data, size_t len);
    /* Size of a slot's content, or negative when the slot is empty. */
    long (*store_size)(void *ctx, uint8_t slot);
    /* Read n bytes of a slot from offset. Returns 0 or negative. */
    int (*store_read)(void *ctx, uint8_t slot, size_t offset, uint8_t *buf, size_t n);
    /* Remove a slot's content (used for the COMMITTED mark). Returns 0 or negative. */
    int (*store_erase)(void *ctx, uint8_t slot);

    /* Fill buf with n bytes from a cryptographically secure source (a TRNG, or a DRBG
     * seeded from one). Returns 0, or negative when the source is not ready. */
    int (*random)(void *ctx, uint8_t *buf, size_t n);

    /* The board's serial number: 1..64 characters, printable ASCII without space. */
    const char *(*serial)(void *ctx);

    /* Milliseconds from any fixed point; wraps at 2^32. */
    uint32_t (*millis)(void *ctx);
};

#endif
