/*
 * Fuzz target of the whole agent: bytes go in as if from the UART; storage, clock and
 * randomness are in memory. Every byte the agent writes back must form valid frames:
 * a damaged frame from the board is a bug (the checks abort).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define SLOTS 0x12

static struct agent agent;
static struct frame_decoder answers;
static uint8_t storage[SLOTS][AGENT_MAX_OBJECT];
static long sizes[SLOTS];
static uint32_t clock_ms;
static uint64_t rng_state;

static int fz_read(void *ctx, uint8_t *buf, size_t n, uint32_t timeout_ms)
{
    (void)ctx;
    (void)buf;
    (void)n;
    clock_ms += timeout_ms;
    return 0;
}

static int fz_write(void *ctx, const uint8_t *buf, size_t n)
{
    size_t i;
    (void)ctx;
    for (i = 0; i < n; i++) {
        struct frame f;
        enum frame_push_result r = frame_decoder_push(&answers, buf[i], &f);
        if (r == FRAME_PUSH_BAD || (r == FRAME_PUSH_FRAME && f.type == FRAME_REQUEST)) {
            abort();
        }
    }
    return 0;
}

static int fz_store_write(void *ctx, uint8_t slot, const uint8_t *data, size_t len)
{
    (void)ctx;
    if (slot >= SLOTS || len > AGENT_MAX_OBJECT) {
        abort();
    }
    memcpy(storage[slot], data, len);
    sizes[slot] = (long)len;
    return 0;
}

static long fz_store_size(void *ctx, uint8_t slot)
{
    (void)ctx;
    return slot < SLOTS ? sizes[slot] : -1;
}

static int fz_store_read(void *ctx, uint8_t slot, size_t offset, uint8_t *buf, size_t n)
{
    (void)ctx;
    if (slot >= SLOTS || sizes[slot] < 0 || offset + n > (size_t)sizes[slot]) {
        abort();
    }
    memcpy(buf, storage[slot] + offset, n);
    return 0;
}

static int fz_store_erase(void *ctx, uint8_t slot)
{
    (void)ctx;
    if (slot < SLOTS) {
        sizes[slot] = -1;
    }
    return 0;
}

static int fz_random(void *ctx, uint8_t *buf, size_t n)
{
    size_t i;
    (void)ctx;
    for (i = 0; i < n; i++) {
        rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(rng_state >> 56);
    }
    return 0;
}

static const char *fz_serial(void *ctx)
{
    (void)ctx;
    return "FUZZ0001";
}

static uint32_t fz_millis(void *ctx)
{
    (void)ctx;
    return clock_ms += 7;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct agent_port port;
    static const struct agent_config config = {"FUZZ", "0", 128, 0, 0};
    size_t i;
    port.uart_read = fz_read;
    port.uart_write = fz_write;
    port.store_write = fz_store_write;
    port.store_size = fz_store_size;
    port.store_read = fz_store_read;
    port.store_erase = fz_store_erase;
    port.random = fz_random;
    port.serial = fz_serial;
    port.millis = fz_millis;
    for (i = 0; i < SLOTS; i++) {
        sizes[i] = -1;
    }
    rng_state = 1;
    frame_decoder_init(&answers);
    if (agent_init(&agent, &port, &config) != 0) {
        abort();
    }
    agent_feed(&agent, data, size);
    (void)agent_poll(&agent, 1);
    return 0;
}
