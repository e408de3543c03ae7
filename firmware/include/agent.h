/*
 * The provisioning agent: the board side of docs/protocol.md (protocol 1.0 and 1.1).
 * Portable C99, no dynamic allocation: one struct agent holds every buffer.
 * Call agent_poll() from a loop or a task; it returns after timeout_ms without input.
 */
#ifndef AGENT_H
#define AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "agent_port.h"
#include "../src/frame.h"

#define AGENT_MAX_OBJECT 16384u
#define AGENT_KEY_DER_MAX 160u
#define AGENT_PROGRESS_MS 400u /* PROGRESS well inside the 500 ms rule */

struct agent_config {
    const char *model;     /* HELLO model string, at most 255 bytes */
    const char *firmware;  /* HELLO firmware string */
    uint16_t max_payload;  /* 128..1024 */
    int write_protect;     /* 1: refuse writes after COMMIT with REFUSED */
    int log_answers;       /* 1: print a log line after each answer (ended by 0x00), for tests */
};

struct agent_upload {
    int active;
    uint8_t object;
    uint32_t size;
    uint32_t held;
    uint8_t sha256[32];
    uint8_t data[AGENT_MAX_OBJECT];
};

struct agent {
    const struct agent_port *port;
    struct agent_config config;
    struct frame_decoder decoder;
    uint8_t body[AGENT_MAX_BODY];
    uint8_t payload[AGENT_MAX_PAYLOAD];
    uint8_t answer[AGENT_MAX_ENCODED + 1]; /* the last answer, encoded: replayed to a retransmission */
    size_t answer_len;
    int have_last;
    uint8_t last_seq;
    uint8_t last_cmd;
    int session;     /* 1 once a HELLO was answered since power-up */
    uint8_t version; /* the HELLO version byte chosen: 1 = 1.0, 2 = 1.1 */
    uint8_t current_seq;
    uint8_t current_cmd;
    uint32_t last_progress;
    int link_down;
    struct agent_upload upload;
    uint8_t progress[16];
    uint8_t progress_body[AGENT_HEADER_SIZE + AGENT_CRC_SIZE];
};

int agent_init(struct agent *a, const struct agent_port *port, const struct agent_config *config);
/* Read and handle input for at most timeout_ms. Returns 0, or negative when the link is gone. */
int agent_poll(struct agent *a, uint32_t timeout_ms);
/* Handle bytes as if read from the UART (tests, fuzzing). */
void agent_feed(struct agent *a, const uint8_t *data, size_t n);
/* Send a PROGRESS frame for the request being handled if AGENT_PROGRESS_MS passed. */
void agent_progress_if_due(struct agent *a);

#endif
