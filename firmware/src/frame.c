#include "frame.h"

#include <string.h>

uint32_t frame_crc32(const uint8_t *data, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    for (i = 0; i < n; i++) {
        int bit;
        crc ^= data[i];
        for (bit = 0; bit < 8; bit++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return crc ^ 0xFFFFFFFFu;
}

size_t cobs_encode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t code_at = 0;
    size_t w = 1;
    uint8_t code = 1;
    size_t i;
    for (i = 0; i < n; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = w++;
            code = 1;
            continue;
        }
        out[w++] = in[i];
        code++;
        if (code == 0xFF) {
            out[code_at] = code;
            code_at = w++;
            code = 1;
        }
    }
    out[code_at] = code;
    return w;
}

int cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t r = 0;
    size_t w = 0;
    while (r < n) {
        uint8_t code = in[r];
        size_t end;
        size_t k;
        if (code == 0) {
            return -1;
        }
        end = r + code;
        if (end > n) {
            return -1;
        }
        for (k = r + 1; k < end; k++) {
            if (in[k] == 0 || w >= cap) {
                return -1;
            }
            out[w++] = in[k];
        }
        r = end;
        if (code < 0xFF && r < n) {
            if (w >= cap) {
                return -1;
            }
            out[w++] = 0;
        }
    }
    *out_len = w;
    return 0;
}

void frame_decoder_init(struct frame_decoder *d)
{
    d->held = 0;
    d->overflowed = 0;
}

static int known_type(uint8_t type)
{
    return type == FRAME_REQUEST || type == FRAME_ANSWER || type == FRAME_ERROR || type == FRAME_PROGRESS;
}

static enum frame_push_result close_frame(struct frame_decoder *d, struct frame *out)
{
    size_t body_len = 0;
    uint32_t crc;
    uint16_t length;
    size_t held = d->held;
    d->held = 0;
    if (d->overflowed) {
        d->overflowed = 0;
        return FRAME_PUSH_NONE; /* already reported when it overflowed */
    }
    if (held == 0) {
        return FRAME_PUSH_NONE; /* an empty frame: a resynchronising delimiter */
    }
    if (cobs_decode(d->encoded, held, d->body, sizeof d->body, &body_len) != 0) {
        return FRAME_PUSH_BAD;
    }
    if (body_len < AGENT_HEADER_SIZE + AGENT_CRC_SIZE) {
        return FRAME_PUSH_BAD;
    }
    length = (uint16_t)((d->body[3] << 8) | d->body[4]);
    if ((size_t)length != body_len - AGENT_HEADER_SIZE - AGENT_CRC_SIZE) {
        return FRAME_PUSH_BAD;
    }
    crc = ((uint32_t)d->body[body_len - 4] << 24) | ((uint32_t)d->body[body_len - 3] << 16) |
          ((uint32_t)d->body[body_len - 2] << 8) | (uint32_t)d->body[body_len - 1];
    if (crc != frame_crc32(d->body, body_len - AGENT_CRC_SIZE)) {
        return FRAME_PUSH_BAD;
    }
    if (!known_type(d->body[0])) {
        return FRAME_PUSH_BAD;
    }
    out->type = d->body[0];
    out->seq = d->body[1];
    out->cmd = d->body[2];
    out->length = length;
    out->payload = d->body + AGENT_HEADER_SIZE;
    return FRAME_PUSH_FRAME;
}

enum frame_push_result frame_decoder_push(struct frame_decoder *d, uint8_t byte, struct frame *out)
{
    if (byte == 0) {
        return close_frame(d, out);
    }
    if (d->overflowed) {
        return FRAME_PUSH_NONE;
    }
    if (d->held == sizeof d->encoded) {
        d->held = 0;
        d->overflowed = 1;
        return FRAME_PUSH_BAD;
    }
    d->encoded[d->held++] = byte;
    return FRAME_PUSH_NONE;
}

size_t frame_encode(uint8_t type, uint8_t seq, uint8_t cmd, const uint8_t *payload, uint16_t length,
                    uint8_t *body, uint8_t *out)
{
    size_t n;
    uint32_t crc;
    size_t w;
    if (length > AGENT_MAX_PAYLOAD) {
        return 0;
    }
    body[0] = type;
    body[1] = seq;
    body[2] = cmd;
    body[3] = (uint8_t)(length >> 8);
    body[4] = (uint8_t)length;
    if (length) {
        memmove(body + AGENT_HEADER_SIZE, payload, length);
    }
    n = AGENT_HEADER_SIZE + length;
    crc = frame_crc32(body, n);
    body[n++] = (uint8_t)(crc >> 24);
    body[n++] = (uint8_t)(crc >> 16);
    body[n++] = (uint8_t)(crc >> 8);
    body[n++] = (uint8_t)crc;
    w = cobs_encode(body, n, out);
    out[w++] = 0;
    return w;
}
