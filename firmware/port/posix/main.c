/*
 * The POSIX port: the agent on a pseudo-terminal (or a serial device), its storage in a
 * directory, randomness from /dev/urandom. It lets the station provision the C agent in CI
 * exactly as it provisions a board.
 *
 *   agent-posix --serial SN0000001 --state DIR [--pty | --device PATH] [--baud N]
 *               [--model M] [--firmware F] [--max-payload N] [--write-protect] [--logs]
 *
 * With --pty it opens a pseudo-terminal and prints "PTY <path>" on stdout; the station
 * opens that path. --baud emulates the wire time of a UART at that speed.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

struct posix_port {
    int fd;
    int keep_slave;
    char state_dir[512];
    char serial[65];
    long byte_ns; /* wire time of one byte at the emulated baud rate, 0 for none */
    int random_fd;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void sleep_ns(long long ns)
{
    struct timespec ts;
    if (ns <= 0) {
        return;
    }
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint32_t posix_millis(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull);
}

static int posix_uart_read(void *ctx, uint8_t *buf, size_t n, uint32_t timeout_ms)
{
    struct posix_port *p = (struct posix_port *)ctx;
    struct pollfd pfd;
    ssize_t got;
    pfd.fd = p->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, (int)timeout_ms) <= 0) {
        return stop_requested ? -1 : 0;
    }
    got = read(p->fd, buf, n);
    if (got < 0) {
        return (errno == EAGAIN || errno == EINTR || errno == EIO) ? 0 : -1;
    }
    sleep_ns((long long)got * p->byte_ns); /* the bytes take their wire time to arrive */
    return (int)got;
}

static int posix_uart_write(void *ctx, const uint8_t *buf, size_t n)
{
    struct posix_port *p = (struct posix_port *)ctx;
    size_t done = 0;
    while (done < n) {
        size_t slice = n - done;
        ssize_t w;
        if (p->byte_ns && slice > 16) {
            slice = 16;
        }
        w = write(p->fd, buf + done, slice);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                struct pollfd pfd;
                pfd.fd = p->fd;
                pfd.events = POLLOUT;
                if (poll(&pfd, 1, 2000) <= 0) {
                    return 0; /* nobody reads: the bytes are lost, as on a UART */
                }
                continue;
            }
            return -1;
        }
        sleep_ns((long long)w * p->byte_ns);
        done += (size_t)w;
    }
    return 0;
}

static void slot_path(const struct posix_port *p, uint8_t slot, char *out, size_t cap)
{
    snprintf(out, cap, "%s/slot-%02x", p->state_dir, slot);
}

static int posix_store_write(void *ctx, uint8_t slot, const uint8_t *data, size_t len)
{
    struct posix_port *p = (struct posix_port *)ctx;
    char path[600];
    char tmp[610];
    FILE *f;
    int ok;
    slot_path(p, slot, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    f = fopen(tmp, "wb");
    if (f == NULL) {
        return -1;
    }
    ok = fwrite(data, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) { /* rename is the atomic replace */
        remove(tmp);
        return -1;
    }
    return 0;
}

static long posix_store_size(void *ctx, uint8_t slot)
{
    struct posix_port *p = (struct posix_port *)ctx;
    char path[600];
    FILE *f;
    long size;
    slot_path(p, slot, path, sizeof path);
    f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    size = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
    fclose(f);
    return size;
}

static int posix_store_read(void *ctx, uint8_t slot, size_t offset, uint8_t *buf, size_t n)
{
    struct posix_port *p = (struct posix_port *)ctx;
    char path[600];
    FILE *f;
    int ok;
    slot_path(p, slot, path, sizeof path);
    f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    ok = fseek(f, (long)offset, SEEK_SET) == 0 && fread(buf, 1, n, f) == n;
    fclose(f);
    return ok ? 0 : -1;
}

static int posix_store_erase(void *ctx, uint8_t slot)
{
    struct posix_port *p = (struct posix_port *)ctx;
    char path[600];
    slot_path(p, slot, path, sizeof path);
    return (remove(path) == 0 || errno == ENOENT) ? 0 : -1;
}

static int posix_random(void *ctx, uint8_t *buf, size_t n)
{
    struct posix_port *p = (struct posix_port *)ctx;
    size_t done = 0;
    while (done < n) {
        ssize_t got = read(p->random_fd, buf + done, n - done);
        if (got <= 0) {
            return -1;
        }
        done += (size_t)got;
    }
    return 0;
}

static const char *posix_serial(void *ctx)
{
    return ((struct posix_port *)ctx)->serial;
}

static int make_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        return -1;
    }
    cfmakeraw(&t);
    return tcsetattr(fd, TCSANOW, &t);
}

static int open_pty(struct posix_port *p)
{
    const char *slave;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || (slave = ptsname(master)) == NULL) {
        return -1;
    }
    /* Hold the slave open too: the master then never sees a hang-up between station sessions. */
    p->keep_slave = open(slave, O_RDWR | O_NOCTTY);
    if (p->keep_slave < 0 || make_raw(p->keep_slave) != 0) {
        return -1;
    }
    p->fd = master;
    printf("PTY %s\n", slave);
    fflush(stdout);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: agent-posix --serial SN --state DIR [--pty | --device PATH] [--baud N] [--model M]\n"
                    "                   [--firmware F] [--max-payload N] [--write-protect] [--logs]\n");
}

int main(int argc, char **argv)
{
    static struct agent agent; /* about 20 KB: static, not on the stack */
    static struct posix_port port_ctx;
    struct agent_port port;
    struct agent_config config;
    const char *device = NULL;
    int use_pty = 0;
    long baud = 0;
    int i;

    memset(&config, 0, sizeof config);
    config.model = "AGENT-C-POSIX";
    config.firmware = "1.1.0-posix";
    config.max_payload = 1024;
    port_ctx.fd = -1;
    port_ctx.keep_slave = -1;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (strcmp(arg, "--pty") == 0) {
            use_pty = 1;
        } else if (strcmp(arg, "--write-protect") == 0) {
            config.write_protect = 1;
        } else if (strcmp(arg, "--logs") == 0) {
            config.log_answers = 1;
        } else if (value == NULL) {
            usage();
            return 2;
        } else if (strcmp(arg, "--serial") == 0) {
            snprintf(port_ctx.serial, sizeof port_ctx.serial, "%s", value);
            i++;
        } else if (strcmp(arg, "--state") == 0) {
            snprintf(port_ctx.state_dir, sizeof port_ctx.state_dir, "%s", value);
            i++;
        } else if (strcmp(arg, "--device") == 0) {
            device = value;
            i++;
        } else if (strcmp(arg, "--baud") == 0) {
            baud = strtol(value, NULL, 10);
            i++;
        } else if (strcmp(arg, "--model") == 0) {
            config.model = value;
            i++;
        } else if (strcmp(arg, "--firmware") == 0) {
            config.firmware = value;
            i++;
        } else if (strcmp(arg, "--max-payload") == 0) {
            config.max_payload = (uint16_t)strtol(value, NULL, 10);
            i++;
        } else {
            usage();
            return 2;
        }
    }
    if (port_ctx.serial[0] == '\0' || port_ctx.state_dir[0] == '\0' || use_pty == (device != NULL)) {
        usage();
        return 2;
    }
    port_ctx.byte_ns = baud > 0 ? 10L * 1000000000L / baud : 0;
    port_ctx.random_fd = open("/dev/urandom", O_RDONLY);
    if (port_ctx.random_fd < 0) {
        perror("/dev/urandom");
        return 1;
    }
    if (use_pty ? open_pty(&port_ctx) != 0 : (port_ctx.fd = open(device, O_RDWR | O_NOCTTY)) < 0) {
        perror(use_pty ? "pty" : device);
        return 1;
    }
    if (!use_pty) {
        (void)make_raw(port_ctx.fd);
    }

    port.ctx = &port_ctx;
    port.uart_read = posix_uart_read;
    port.uart_write = posix_uart_write;
    port.store_write = posix_store_write;
    port.store_size = posix_store_size;
    port.store_read = posix_store_read;
    port.store_erase = posix_store_erase;
    port.random = posix_random;
    port.serial = posix_serial;
    port.millis = posix_millis;
    if (agent_init(&agent, &port, &config) != 0) {
        fprintf(stderr, "bad configuration (max-payload must be 128..1024)\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop_requested) {
        if (agent_poll(&agent, 100) < 0 && !stop_requested) {
            fprintf(stderr, "link lost\n");
            break;
        }
    }
    close(port_ctx.fd);
    if (port_ctx.keep_slave >= 0) {
        close(port_ctx.keep_slave);
    }
    close(port_ctx.random_fd);
    return 0;
}
