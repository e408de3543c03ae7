/*
 * Fuzz target of the frame decoder: any bytes, pushed one by one, must never read or
 * write out of bounds, and every frame it accepts must re-encode to a valid frame.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

static struct frame_decoder decoder;
static struct frame_decoder check;
static uint8_t body[AGENT_MAX_BODY];
static uint8_t wire[AGENT_MAX_ENCODED + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i;
    frame_decoder_init(&decoder);
    for (i = 0; i < size; i++) {
        struct frame f;
        if (frame_decoder_push(&decoder, data[i], &f) == FRAME_PUSH_FRAME) {
            struct frame again;
            size_t n;
            size_t k;
            int found = 0;
            if (f.length > AGENT_MAX_PAYLOAD) {
                abort();
            }
            n = frame_encode(f.type, f.seq, f.cmd, f.payload, f.length, body, wire);
            frame_decoder_init(&check);
            for (k = 0; k < n; k++) {
                if (frame_decoder_push(&check, wire[k], &again) == FRAME_PUSH_FRAME) {
                    found = again.type == f.type && again.seq == f.seq && again.cmd == f.cmd &&
                            again.length == f.length;
                }
            }
            if (!found) {
                abort();
            }
        }
    }
    return 0;
}
