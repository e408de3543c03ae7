/* Framing of docs/protocol.md section 2: COBS, CRC-32, a bounded decoder. */
#ifndef AGENT_FRAME_H
#define AGENT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_MAX_PAYLOAD 1024u
#define AGENT_HEADER_SIZE 5u
#define AGENT_CRC_SIZE 4u
#define AGENT_MAX_BODY (AGENT_HEADER_SIZE + AGENT_MAX_PAYLOAD + AGENT_CRC_SIZE)
#define AGENT_MAX_ENCODED (AGENT_MAX_BODY + AGENT_MAX_BODY / 254u + 1u)

enum frame_type {
    FRAME_REQUEST = 0x51,
    FRAME_ANSWER = 0x41,
    FRAME_ERROR = 0x45,
    FRAME_PROGRESS = 0x50
};

struct frame {
    uint8_t type;
    uint8_t seq;
    uint8_t cmd;
    uint16_t length;
    const uint8_t *payload; /* points into the decoder; valid until the next push */
};

struct frame_decoder {
    uint8_t encoded[AGENT_MAX_ENCODED];
    uint8_t body[AGENT_MAX_BODY];
    size_t held;
    int overflowed;
};

enum frame_push_result {
    FRAME_PUSH_NONE = 0,  /* no frame ended with this byte */
    FRAME_PUSH_FRAME = 1, /* a valid frame ended; *out is filled */
    FRAME_PUSH_BAD = 2    /* a damaged frame or an overflow was dropped */
};

uint32_t frame_crc32(const uint8_t *data, size_t n);
size_t cobs_encode(const uint8_t *in, size_t n, uint8_t *out);
int cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

void frame_decoder_init(struct frame_decoder *d);
enum frame_push_result frame_decoder_push(struct frame_decoder *d, uint8_t byte, struct frame *out);

/* Build COBS(body) 0x00 into out (AGENT_MAX_ENCODED + 1 bytes), using body as scratch
 * (AGENT_MAX_BODY bytes). Returns the number of bytes written, 0 if length is too big. */
size_t frame_encode(uint8_t type, uint8_t seq, uint8_t cmd, const uint8_t *payload, uint16_t length,
                    uint8_t *body, uint8_t *out);

#endif
