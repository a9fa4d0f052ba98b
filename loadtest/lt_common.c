#include "lt_common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t lt_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t lt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lt_rfc3339(int64_t ms, char out[25]) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    /* Digit by digit: no snprintf truncation games, and cheap. */
    int v[7] = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,      tm.tm_hour,
                tm.tm_min,         tm.tm_sec,     (int)(ms % 1000)};
    static const int width[7] = {4, 2, 2, 2, 2, 2, 3};
    static const char sep[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
    char *p = out;
    for (int i = 0; i < 7; i++) {
        for (int d = width[i] - 1; d >= 0; d--) {
            p[d] = (char)('0' + v[i] % 10);
            v[i] /= 10;
        }
        p += width[i];
        *p++ = sep[i];
    }
    *p = '\0';
}

uint64_t lt_rand(lt_rng_t *r) {
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint32_t lt_rand_below(lt_rng_t *r, uint32_t n) {
    return (uint32_t)(lt_rand(r) % n);
}

static const char hexd[] = "0123456789abcdef";

static void hex(char *out, uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = hexd[v & 15];
        v >>= 4;
    }
}

void lt_uuid(char out[LT_UUID_LEN], uint32_t run, uint16_t stream, uint64_t counter) {
    /* xxxxxxxx-ssss-4ccc-8ccc-cccccccccccc : run, stream, then 12+12+48 = 72 bits of counter
     * (of which 60 are used). */
    hex(out, run, 8);
    out[8] = '-';
    hex(out + 9, stream, 4);
    out[13] = '-';
    out[14] = '4';
    hex(out + 15, (counter >> 60) & 0xfff, 3);
    out[18] = '-';
    out[19] = '8';
    hex(out + 20, (counter >> 48) & 0xfff, 3);
    out[23] = '-';
    hex(out + 24, counter & 0xffffffffffffull, 12);
}

static const char *const user_agents[] = {
    "Mozilla/5.0 (Windows) Chrome/124",
    "Mozilla/5.0 (iPhone) Mobile/15E",
    "Mozilla/5.0 (Linux) Firefox/125",
    "Mozilla/5.0 (Mac) Safari/605.1",
};
static const char *const locales[] = {"en-US", "de-DE", "fr-FR", "en-GB", "es-ES", "nl-NL"};
static const char *const sections[] = {"p", "c", "s", "b", "x"};

size_t lt_event(char *out, size_t cap, lt_rng_t *r, int64_t now_ms, size_t *id_off, size_t *key_off,
                size_t *key_len) {
    char occurred[25];
    lt_rfc3339(now_ms - (int64_t)lt_rand_below(r, 5000), occurred);
    uint32_t user = lt_rand_below(r, LT_USERS);
    uint64_t anon = lt_rand(r);
    const char *ua = user_agents[lt_rand_below(r, 4)];
    const char *loc = locales[lt_rand_below(r, 6)];
    const char *sec = sections[lt_rand_below(r, 5)];
    uint32_t item = lt_rand_below(r, 100000);
    static const char id_zero[LT_UUID_LEN + 1] = "00000000-0000-4000-8000-000000000000";
    int n = snprintf(out, cap,
                     "{\"event_id\":\"%s\",\"type\":\"product_view\",\"occurred_at\":\"%s\","
                     "\"user_id\":\"user-%05u\",\"anonymous_id\":\"%012llx\","
                     "\"context\":{\"user_agent\":\"%s\",\"page\":{\"url\":\"https://"
                     "example.com/%s/%05u\"},\"locale\":\"%s\"},"
                     "\"consent\":{\"purposes\":[\"analytics\"]},\"properties\":{"
                     "\"product_id\":\"p%05u\",\"price\":%u,\"currency\":\"EUR\"}}",
                     id_zero, occurred, user, (unsigned long long)(anon & 0xffffffffffffull), ua,
                     sec, item, loc, item, 100 + lt_rand_below(r, 20000));
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    *id_off = strlen("{\"event_id\":\"");
    const char *k = strstr(out, "\"user_id\":\"") + strlen("\"user_id\":\"");
    *key_off = (size_t)(k - out);
    *key_len = strlen("user-00000");
    return (size_t)n;
}

/* ---- /proc ---- */

static int read_file(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (int)n;
}

/* Parses "pid (comm) S f4 ... f14 f15 ..." -> comm and utime+stime. */
static long long parse_stat(const char *buf, char *comm, size_t comm_cap) {
    const char *open = strchr(buf, '(');
    const char *close = strrchr(buf, ')');
    if (open == NULL || close == NULL || close < open) {
        return -1;
    }
    if (comm != NULL) {
        size_t n = (size_t)(close - open - 1);
        if (n >= comm_cap) {
            n = comm_cap - 1;
        }
        memcpy(comm, open + 1, n);
        comm[n] = '\0';
        for (size_t i = 0; i < n; i++) {
            if (comm[i] == '"' || comm[i] == '\\' || (unsigned char)comm[i] < 0x20) {
                comm[i] = '_';
            }
        }
    }
    /* After ") " come fields 3 (state) .. ; utime is field 14, stime 15. */
    const char *p = close + 2;
    for (int field = 3; field < 14; field++) {
        p = strchr(p, ' ');
        if (p == NULL) {
            return -1;
        }
        p++;
    }
    char *end;
    long long ut = strtoll(p, &end, 10);
    long long st = strtoll(end, NULL, 10);
    return ut + st;
}

long long lt_proc_ticks(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (read_file(path, buf, sizeof(buf)) < 0) {
        return -1;
    }
    return parse_stat(buf, NULL, 0);
}

double lt_ticks_per_s(void) {
    return (double)sysconf(_SC_CLK_TCK);
}

void lt_thread_groups(int pid, lt_groups_t *out) {
    char path[64];
    out->n = 0;
    if (pid == 0) {
        snprintf(path, sizeof(path), "/proc/self/task");
    } else {
        snprintf(path, sizeof(path), "/proc/%d/task", pid);
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char p2[512], buf[1024], comm[20];
        snprintf(p2, sizeof(p2), "%s/%s/stat", path, de->d_name);
        if (read_file(p2, buf, sizeof(buf)) < 0) {
            continue;
        }
        long long t = parse_stat(buf, comm, sizeof(comm));
        if (t < 0) {
            continue;
        }
        int i;
        for (i = 0; i < out->n; i++) {
            if (strcmp(out->name[i], comm) == 0) {
                break;
            }
        }
        if (i == out->n) {
            if (out->n == LT_MAX_GROUPS) {
                continue;
            }
            snprintf(out->name[i], sizeof(out->name[i]), "%s", comm);
            out->ticks[i] = 0;
            out->n++;
        }
        out->ticks[i] += t;
    }
    closedir(d);
}

void lt_machine_ticks(long long *total, long long *idle) {
    char buf[4096];
    *total = *idle = 0;
    if (read_file("/proc/stat", buf, sizeof(buf)) < 0 || strncmp(buf, "cpu ", 4) != 0) {
        return;
    }
    char *p = buf + 4;
    for (int i = 0; i < 10; i++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p) {
            break;
        }
        p = end;
        if (i == 8 || i == 9) {
            continue; /* guest time is already counted in user */
        }
        *total += v;
        if (i == 3 || i == 4) {
            *idle += v;
        }
    }
}

int lt_groups_json(char *out, size_t cap, const lt_groups_t *before, const lt_groups_t *after) {
    double hz = lt_ticks_per_s();
    size_t used = 0;
    int n = snprintf(out, cap, "{");
    used += n > 0 ? (size_t)n : 0;
    for (int i = 0; i < after->n && used < cap; i++) {
        long long b = 0;
        for (int j = 0; j < before->n; j++) {
            if (strcmp(before->name[j], after->name[i]) == 0) {
                b = before->ticks[j];
            }
        }
        n = snprintf(out + used, cap - used, "%s\"%s\":%.2f", i > 0 ? "," : "", after->name[i],
                     (double)(after->ticks[i] - b) / hz);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < cap) {
        n = snprintf(out + used, cap - used, "}");
        used += n > 0 ? (size_t)n : 0;
    }
    return (int)used;
}
