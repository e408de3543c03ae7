#include "agent.h"

#include <string.h>

#include "crypto.h"

enum command {
    CMD_HELLO = 0x01,
    CMD_READ_SERIAL = 0x02,
    CMD_WRITE_BEGIN = 0x10,
    CMD_WRITE_CHUNK = 0x11,
    CMD_WRITE_END = 0x12,
    CMD_READ_DIGEST = 0x13,
    CMD_KEYGEN = 0x20,
    CMD_GET_CSR = 0x21,
    CMD_COMMIT = 0x30
};

enum error_code {
    ERR_NONE = 0x00,
    ERR_UNKNOWN_COMMAND = 0x01,
    ERR_BAD_REQUEST = 0x02,
    ERR_BAD_STATE = 0x03,
    ERR_NOT_FOUND = 0x04,
    ERR_STORAGE_FULL = 0x05,
    ERR_DIGEST_MISMATCH = 0x06,
    ERR_UNSUPPORTED = 0x07,
    ERR_KEYGEN_FAILED = 0x08,
    ERR_REFUSED = 0x09,
    ERR_INTERNAL = 0x7F
};

#define LOWEST_VERSION 1u
#define HIGHEST_VERSION 2u /* protocol 1.1 */
#define MAX_SERIAL 64u
#define MAX_ERROR_TEXT 120u

/* What a command handler produces: an answer payload (in a->payload) or an error. */
struct result {
    uint8_t error;
    const char *text;
    uint16_t length;
};

static struct result ok(uint16_t length)
{
    struct result r;
    r.error = ERR_NONE;
    r.text = "";
    r.length = length;
    return r;
}

static struct result fail(uint8_t error, const char *text)
{
    struct result r;
    r.error = error;
    r.text = text;
    r.length = 0;
    return r;
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int valid_object(uint8_t object)
{
    return object >= AGENT_SLOT_ROOT_CA && object <= AGENT_SLOT_CLAIM_KEY;
}

static int send_bytes(struct agent *a, const uint8_t *data, size_t n)
{
    if (a->link_down) {
        return -1;
    }
    if (a->port->uart_write(a->port->ctx, data, n) != 0) {
        a->link_down = 1;
        return -1;
    }
    return 0;
}

static int committed(const struct agent *a)
{
    return a->port->store_size(a->port->ctx, AGENT_SLOT_COMMITTED) >= 0;
}

/* A write after COMMIT: REFUSED on a write-protected board, otherwise it clears the mark. */
static int write_allowed(struct agent *a, uint8_t cmd)
{
    if (!committed(a)) {
        return 1;
    }
    if (a->config.write_protect) {
        return 0;
    }
    if (cmd == CMD_WRITE_BEGIN || cmd == CMD_KEYGEN) {
        (void)a->port->store_erase(a->port->ctx, AGENT_SLOT_COMMITTED);
    }
    return 1;
}

static size_t put_str8(uint8_t *out, const char *text)
{
    size_t n = strlen(text);
    if (n > 255) {
        n = 255;
    }
    out[0] = (uint8_t)n;
    memcpy(out + 1, text, n);
    return n + 1;
}

static int digest_slot(struct agent *a, uint8_t slot, uint32_t *size, uint8_t sha[32])
{
    struct agent_sha256 ctx;
    uint8_t piece[256];
    long total = a->port->store_size(a->port->ctx, slot);
    size_t offset = 0;
    if (total < 0) {
        return -1;
    }
    agent_sha256_start(&ctx);
    while (offset < (size_t)total) {
        size_t n = (size_t)total - offset;
        if (n > sizeof piece) {
            n = sizeof piece;
        }
        if (a->port->store_read(a->port->ctx, slot, offset, piece, n) != 0) {
            return -2;
        }
        agent_sha256_update(&ctx, piece, n);
        offset += n;
    }
    agent_sha256_finish(&ctx, sha);
    *size = (uint32_t)total;
    return 0;
}

static struct result do_hello(struct agent *a, const uint8_t *p, uint16_t n)
{
    uint8_t chosen;
    size_t w;
    if (n != 2) {
        return fail(ERR_BAD_REQUEST, "HELLO takes 2 bytes");
    }
    if (p[0] > HIGHEST_VERSION || p[1] < LOWEST_VERSION || p[0] > p[1]) {
        return fail(ERR_UNSUPPORTED, "board speaks versions 1 and 2 (protocol 1.0, 1.1)");
    }
    chosen = p[1] < HIGHEST_VERSION ? p[1] : (uint8_t)HIGHEST_VERSION;
    a->session = 1;
    a->version = chosen;
    a->upload.active = 0;
    a->payload[0] = chosen;
    a->payload[1] = (uint8_t)(a->config.max_payload >> 8);
    a->payload[2] = (uint8_t)a->config.max_payload;
    w = 3;
    w += put_str8(a->payload + w, a->config.model);
    w += put_str8(a->payload + w, a->config.firmware);
    return ok((uint16_t)w);
}

static struct result do_read_serial(struct agent *a, uint16_t n)
{
    const char *serial = a->port->serial(a->port->ctx);
    size_t len = strlen(serial);
    if (n != 0) {
        return fail(ERR_BAD_REQUEST, "READ_SERIAL takes no payload");
    }
    if (len == 0 || len > MAX_SERIAL) {
        return fail(ERR_INTERNAL, "serial number not set");
    }
    return ok((uint16_t)put_str8(a->payload, serial));
}

static struct result do_write_begin(struct agent *a, const uint8_t *p, uint16_t n)
{
    uint32_t size;
    if (n != 37) {
        return fail(ERR_BAD_REQUEST, "WRITE_BEGIN takes 37 bytes");
    }
    if (!valid_object(p[0])) {
        return fail(ERR_BAD_REQUEST, "unknown object");
    }
    size = be32(p + 1);
    if (size == 0 || size > AGENT_MAX_OBJECT) {
        return fail(ERR_BAD_REQUEST, "object size outside 1..16384");
    }
    if (!write_allowed(a, CMD_WRITE_BEGIN)) {
        return fail(ERR_REFUSED, "write-protected after COMMIT");
    }
    a->upload.active = 1;
    a->upload.object = p[0];
    a->upload.size = size;
    a->upload.held = 0;
    memcpy(a->upload.sha256, p + 5, 32);
    return ok(0);
}

static struct result do_write_chunk(struct agent *a, const uint8_t *p, uint16_t n)
{
    uint32_t offset;
    uint32_t len;
    if (n < 6) {
        return fail(ERR_BAD_REQUEST, "WRITE_CHUNK takes at least 6 bytes");
    }
    if (!valid_object(p[0])) {
        return fail(ERR_BAD_REQUEST, "unknown object");
    }
    if (!write_allowed(a, CMD_WRITE_CHUNK)) {
        return fail(ERR_REFUSED, "write-protected after COMMIT");
    }
    if (!a->upload.active || a->upload.object != p[0]) {
        return fail(ERR_BAD_STATE, "no WRITE_BEGIN for this object");
    }
    offset = be32(p + 1);
    len = (uint32_t)n - 5u;
    if (offset > a->upload.held || len > a->upload.size || offset > a->upload.size - len) {
        return fail(ERR_BAD_REQUEST, "chunk does not fit");
    }
    memcpy(a->upload.data + offset, p + 5, len);
    if (offset + len > a->upload.held) {
        a->upload.held = offset + len;
    }
    put_be32(a->payload, a->upload.held);
    return ok(4);
}

static struct result do_write_end(struct agent *a, const uint8_t *p, uint16_t n)
{
    struct agent_sha256 ctx;
    uint8_t sha[32];
    if (n != 1) {
        return fail(ERR_BAD_REQUEST, "WRITE_END takes 1 byte");
    }
    if (!valid_object(p[0])) {
        return fail(ERR_BAD_REQUEST, "unknown object");
    }
    if (!write_allowed(a, CMD_WRITE_END)) {
        return fail(ERR_REFUSED, "write-protected after COMMIT");
    }
    if (!a->upload.active || a->upload.object != p[0]) {
        return fail(ERR_BAD_STATE, "no upload in progress for this object");
    }
    a->upload.active = 0;
    agent_sha256_start(&ctx);
    agent_sha256_update(&ctx, a->upload.data, a->upload.held);
    agent_sha256_finish(&ctx, sha);
    if (a->upload.held != a->upload.size || memcmp(sha, a->upload.sha256, 32) != 0) {
        return fail(ERR_DIGEST_MISMATCH, "data does not match the announced digest");
    }
    if (a->port->store_write(a->port->ctx, p[0], a->upload.data, a->upload.size) != 0) {
        return fail(ERR_INTERNAL, "storage write failed");
    }
    if (digest_slot(a, p[0], &a->upload.size, sha) != 0) {
        return fail(ERR_INTERNAL, "storage read failed");
    }
    put_be32(a->payload, a->upload.size);
    memcpy(a->payload + 4, sha, 32);
    return ok(36);
}

static struct result do_read_digest(struct agent *a, const uint8_t *p, uint16_t n)
{
    uint32_t size;
    int rc;
    if (n != 1) {
        return fail(ERR_BAD_REQUEST, "READ_DIGEST takes 1 byte");
    }
    if (!valid_object(p[0])) {
        return fail(ERR_BAD_REQUEST, "unknown object");
    }
    rc = digest_slot(a, p[0], &size, a->payload + 4);
    if (rc == -1) {
        return fail(ERR_NOT_FOUND, "object not stored");
    }
    if (rc != 0) {
        return fail(ERR_INTERNAL, "storage read failed");
    }
    put_be32(a->payload, size);
    return ok(36);
}

static struct result do_keygen(struct agent *a, const uint8_t *p, uint16_t n)
{
    uint8_t key[AGENT_KEY_DER_MAX];
    size_t key_len = 0;
    size_t pub_len = 0;
    int rc;
    if (n != 1) {
        return fail(ERR_BAD_REQUEST, "KEYGEN takes 1 byte");
    }
    if (p[0] != 0x01) {
        return fail(ERR_UNSUPPORTED, "only EC P-256 (0x01)");
    }
    if (!write_allowed(a, CMD_KEYGEN)) {
        return fail(ERR_REFUSED, "write-protected after COMMIT");
    }
    a->last_progress = a->port->millis(a->port->ctx) - AGENT_PROGRESS_MS;
    agent_progress_if_due(a);
    rc = agent_keygen(a, key, sizeof key, &key_len, a->payload, sizeof a->payload, &pub_len);
    if (rc != 0) {
        memset(key, 0, sizeof key);
        return fail(ERR_KEYGEN_FAILED, "entropy source not ready");
    }
    rc = a->port->store_write(a->port->ctx, AGENT_SLOT_DEVICE_KEY, key, key_len);
    memset(key, 0, sizeof key);
    if (rc != 0) {
        return fail(ERR_INTERNAL, "storage write failed");
    }
    return ok((uint16_t)pub_len);
}

static int printable_cn(const uint8_t *text, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (text[i] < 0x20 || text[i] > 0x7E) {
            return 0;
        }
    }
    return 1;
}

static struct result do_get_csr(struct agent *a, const uint8_t *p, uint16_t n)
{
    uint8_t key[AGENT_KEY_DER_MAX];
    char cn[MAX_SERIAL + 1];
    long key_len;
    size_t csr_len = 0;
    size_t cn_len;
    int rc;
    if (n < 1 || (size_t)p[0] + 1u != n) {
        return fail(ERR_BAD_REQUEST, "GET_CSR takes str8");
    }
    cn_len = p[0];
    if (cn_len == 0 || cn_len > MAX_SERIAL || !printable_cn(p + 1, cn_len)) {
        return fail(ERR_BAD_REQUEST, "CN must be 1..64 printable characters");
    }
    key_len = a->port->store_size(a->port->ctx, AGENT_SLOT_DEVICE_KEY);
    if (key_len < 0) {
        return fail(ERR_BAD_STATE, "no device key: send KEYGEN first");
    }
    if ((size_t)key_len > sizeof key ||
        a->port->store_read(a->port->ctx, AGENT_SLOT_DEVICE_KEY, 0, key, (size_t)key_len) != 0) {
        return fail(ERR_INTERNAL, "device key unreadable");
    }
    memcpy(cn, p + 1, cn_len);
    cn[cn_len] = '\0';
    rc = agent_csr(a, key, (size_t)key_len, cn, cn_len, a->payload, sizeof a->payload, &csr_len);
    memset(key, 0, sizeof key);
    if (rc != 0) {
        return fail(ERR_INTERNAL, "CSR could not be built");
    }
    return ok((uint16_t)csr_len);
}

static struct result do_commit(struct agent *a, uint16_t n)
{
    static const char *const names[] = {"ROOT_CA", "CLAIM_CERT", "CLAIM_KEY"};
    static char text[80];
    uint8_t slot;
    size_t w;
    int missing = 0;
    uint8_t mark = 1;
    if (n != 0) {
        return fail(ERR_BAD_REQUEST, "COMMIT takes no payload");
    }
    strcpy(text, "missing: ");
    w = strlen(text);
    for (slot = AGENT_SLOT_ROOT_CA; slot <= AGENT_SLOT_CLAIM_KEY; slot++) {
        if (a->port->store_size(a->port->ctx, slot) < 0) {
            size_t len = strlen(names[slot - 1]);
            if (missing) {
                memcpy(text + w, ", ", 2);
                w += 2;
            }
            memcpy(text + w, names[slot - 1], len);
            w += len;
            missing = 1;
        }
    }
    if (!missing && a->port->store_size(a->port->ctx, AGENT_SLOT_DEVICE_KEY) < 0) {
        memcpy(text + w, "device key", 10);
        w += 10;
        missing = 1;
    }
    text[w] = '\0';
    if (missing) {
        return fail(ERR_BAD_STATE, text);
    }
    if (a->port->store_write(a->port->ctx, AGENT_SLOT_COMMITTED, &mark, 1) != 0) {
        return fail(ERR_INTERNAL, "storage write failed");
    }
    return ok(0);
}

/* Checks in the order of the spec's error precedence (section 4.2). */
static struct result execute(struct agent *a, const struct frame *f)
{
    const uint8_t *p = f->payload;
    uint16_t n = f->length;
    switch (f->cmd) {
    case CMD_HELLO:
    case CMD_READ_SERIAL:
    case CMD_WRITE_BEGIN:
    case CMD_WRITE_CHUNK:
    case CMD_WRITE_END:
    case CMD_READ_DIGEST:
    case CMD_KEYGEN:
    case CMD_GET_CSR:
    case CMD_COMMIT:
        break;
    default:
        return fail(ERR_UNKNOWN_COMMAND, "unknown command");
    }
    if (f->cmd != CMD_HELLO) {
        if (!a->session) {
            return fail(ERR_BAD_STATE, "no session: send HELLO first");
        }
        if (n > a->config.max_payload) {
            return fail(ERR_BAD_REQUEST, "payload above max_payload");
        }
    }
    switch (f->cmd) {
    case CMD_HELLO:
        return do_hello(a, p, n);
    case CMD_READ_SERIAL:
        return do_read_serial(a, n);
    case CMD_WRITE_BEGIN:
        return do_write_begin(a, p, n);
    case CMD_WRITE_CHUNK:
        return do_write_chunk(a, p, n);
    case CMD_WRITE_END:
        return do_write_end(a, p, n);
    case CMD_READ_DIGEST:
        return do_read_digest(a, p, n);
    case CMD_KEYGEN:
        return do_keygen(a, p, n);
    case CMD_GET_CSR:
        return do_get_csr(a, p, n);
    default:
        return do_commit(a, n);
    }
}

static void log_line(struct agent *a, uint8_t cmd)
{
    static const char hex[] = "0123456789abcdef";
    char line[32] = "I (agent) answered 0x00\r\n";
    line[21] = hex[cmd >> 4];
    line[22] = hex[cmd & 0x0F];
    (void)send_bytes(a, (const uint8_t *)line, strlen(line) + 1u); /* the 0x00 ends the log (1.1) */
}

static void handle(struct agent *a, const struct frame *f)
{
    struct result r;
    if (f->type != FRAME_REQUEST) {
        return; /* an answer, error or progress frame travelling the wrong way: ignored */
    }
    if (f->cmd != CMD_HELLO && a->have_last && f->seq == a->last_seq && f->cmd == a->last_cmd) {
        (void)send_bytes(a, a->answer, a->answer_len); /* a retransmission: replay, never re-execute */
        return;
    }
    a->have_last = 0;
    a->current_seq = f->seq;
    a->current_cmd = f->cmd;
    r = execute(a, f);
    if (r.error == ERR_NONE) {
        a->answer_len = frame_encode(FRAME_ANSWER, f->seq, f->cmd, a->payload, r.length, a->body, a->answer);
    } else {
        size_t text_len = strlen(r.text);
        if (text_len > MAX_ERROR_TEXT) {
            text_len = MAX_ERROR_TEXT;
        }
        a->payload[0] = r.error;
        memcpy(a->payload + 1, r.text, text_len);
        a->answer_len =
            frame_encode(FRAME_ERROR, f->seq, f->cmd, a->payload, (uint16_t)(text_len + 1u), a->body, a->answer);
    }
    a->have_last = 1;
    a->last_seq = f->seq;
    a->last_cmd = f->cmd;
    (void)send_bytes(a, a->answer, a->answer_len);
    if (a->config.log_answers) {
        log_line(a, f->cmd);
    }
}

void agent_progress_if_due(struct agent *a)
{
    uint32_t now = a->port->millis(a->port->ctx);
    size_t n;
    if ((uint32_t)(now - a->last_progress) < AGENT_PROGRESS_MS) {
        return;
    }
    a->last_progress = now;
    n = frame_encode(FRAME_PROGRESS, a->current_seq, a->current_cmd, NULL, 0, a->progress_body, a->progress);
    (void)send_bytes(a, a->progress, n);
}

int agent_init(struct agent *a, const struct agent_port *port, const struct agent_config *config)
{
    memset(a, 0, sizeof *a);
    a->port = port;
    a->config = *config;
    if (a->config.max_payload < 128 || a->config.max_payload > AGENT_MAX_PAYLOAD) {
        return -1;
    }
    frame_decoder_init(&a->decoder);
    return 0;
}

void agent_feed(struct agent *a, const uint8_t *data, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        struct frame f;
        if (frame_decoder_push(&a->decoder, data[i], &f) == FRAME_PUSH_FRAME) {
            handle(a, &f); /* answered before the next byte is read: requests in order */
        }
    }
}

int agent_poll(struct agent *a, uint32_t timeout_ms)
{
    uint8_t buf[64];
    int n = a->port->uart_read(a->port->ctx, buf, sizeof buf, timeout_ms);
    if (n < 0) {
        a->link_down = 1;
        return -1;
    }
    agent_feed(a, buf, (size_t)n);
    return a->link_down ? -1 : 0;
}
