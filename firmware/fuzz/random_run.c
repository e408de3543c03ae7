/*
 * Without libFuzzer: feed the fuzz target random inputs, mutated valid frames among them,
 * for a number of iterations (argv[1], default 200000) under the sanitizers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t state = 0x9E3779B97F4A7C15ull;

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
            while (n < sizeof input - AGENT_MAX_ENCODED - 8) {
                uint16_t len = (uint16_t)(next() % (kind == 3 ? AGENT_MAX_PAYLOAD + 1 : 64));
                for (size_t k = 0; k < len; k++) {
                    payload[k] = (uint8_t)(next() % 3 == 0 ? 0 : next());
                }
                n += frame_encode((uint8_t)(next() % 2 ? 0x51 : next()), (uint8_t)next(), (uint8_t)next(), payload,
                                  len, body, input + n);
                if (next() % 3 == 0 && n > 1) {
                    input[next() % n] ^= (uint8_t)(1u << (next() % 8));
                }
                if (next() % 4 == 0) {
                    input[n++] = (uint8_t)next();
                }
                if (next() % 3 == 0) {
                    break;
                }
            }
        }
        LLVMFuzzerTestOneInput(input, n);
    }
    printf("fuzz-frame: %ld random inputs, no fault\n", iterations);
    return 0;
}
