/*
 * Without libFuzzer: feed the fuzz target random inputs, mutated valid frames among them,
 * for a number of iterations (argv[1], default 200000; argv[2] a seed) under the sanitizers.
 * Most frames are requests for the protocol's commands, with a HELLO first, so the
 * agent's command handlers see well-framed but arbitrary payloads.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t state = 0x9E3779B97F4A7C15ull;
static const uint8_t commands[] = {0x01, 0x02, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x30};

static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 16);
}

int main(int argc, char **argv)
{
    static uint8_t input[3 * AGENT_MAX_ENCODED];
    static uint8_t body[AGENT_MAX_BODY];
    static uint8_t payload[AGENT_MAX_PAYLOAD];
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    long i;
    if (argc > 2) {
        state ^= (uint64_t)strtoull(argv[2], NULL, 10) * 0x2545F4914F6CDD1Dull;
    }
    for (i = 0; i < iterations; i++) {
        size_t n = 0;
        uint32_t kind = next() % 4;
        if (kind == 0) { /* pure noise */
            n = next() % sizeof input;
            for (size_t k = 0; k < n; k++) {
                input[k] = (uint8_t)(next() % 8 == 0 ? 0 : next());
            }
        } else { /* valid frames, some damaged, with noise between them */
            static const uint8_t hello[] = {0x01, 0x02};
            n += frame_encode(0x51, 0, 0x01, hello, 2, body, input);
            while (n < sizeof input - AGENT_MAX_ENCODED - 8) {
                uint16_t len = (uint16_t)(next() % (kind == 3 ? AGENT_MAX_PAYLOAD + 1 : 64));
                uint8_t cmd = next() % 4 ? commands[next() % sizeof commands] : (uint8_t)next();
                for (size_t k = 0; k < len; k++) {
                    payload[k] = (uint8_t)(next() % 3 == 0 ? 0 : next());
                }
                if (len >= 1 && next() % 2) {
                    payload[0] = (uint8_t)(1 + next() % 3); /* a valid object id or key type */
                }
                if (next() % 4) { /* a well-formed payload for the command, to get past the layout checks */
                    switch (cmd) {
                    case 0x20:
                        len = 1;
                        break;
                    case 0x12:
                    case 0x13:
                        len = 1;
                        break;
                    case 0x10:
                        len = 37;
                        payload[1] = payload[2] = payload[3] = 0;
                        payload[4] = (uint8_t)(1 + next() % 40);
                        break;
                    case 0x11:
                        len = (uint16_t)(6 + next() % 40);
                        payload[1] = payload[2] = payload[3] = 0;
                        payload[4] = (uint8_t)(next() % 3 ? 0 : next() % 50);
                        break;
                    case 0x21:
                        len = (uint16_t)(1 + next() % 66);
                        payload[0] = (uint8_t)(len - 1);
                        for (size_t k = 1; k < len; k++) {
                            payload[k] = (uint8_t)(0x20 + next() % 0x5F);
                        }
                        break;
                    case 0x02:
                    case 0x30:
                        len = 0;
                        break;
                    default:
                        break;
                    }
                }
                n += frame_encode((uint8_t)(next() % 8 ? 0x51 : next()), (uint8_t)next(), cmd, payload, len, body,
                                  input + n);
                if (next() % 3 == 0 && n > 1) {
                    input[next() % n] ^= (uint8_t)(1u << (next() % 8));
                }
                if (next() % 4 == 0) {
                    input[n++] = (uint8_t)next();
                }
                if (next() % 12 == 0) {
                    break;
                }
            }
        }
        LLVMFuzzerTestOneInput(input, n);
    }
    printf("%s: %ld random inputs, no fault\n", argv[0], iterations);
    return 0;
}
