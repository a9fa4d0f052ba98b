#include "policy/actions.h"

#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/base64.h"
#include "core/num.h"

/* --- hmac ------------------------------------------------------------------------------------ */

static bool key_id_ok(const char *id) {
    if (id == NULL) {
        return false;
    }
    size_t n = 0;
    for (; id[n] != '\0'; n++) {
        char c = id[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || n >= SL_REDACT_KEY_ID_MAX) {
            return false;
        }
    }
    return n > 0;
}

sl_status_t sl_redact_hmac(const uint8_t *key, size_t key_len, const char *key_id, const char *in,
                           size_t n, sl_buf_t *out) {
    if (key == NULL || key_len < SL_REDACT_HMAC_MIN_KEY || key_len > INT_MAX ||
        !key_id_ok(key_id)) {
        return SL_REJECT;
    }
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    const unsigned char *data = n > 0 ? (const unsigned char *)in : (const unsigned char *)"";
    if (HMAC(EVP_sha256(), key, (int)key_len, data, n, mac, &mac_len) == NULL || mac_len < 16) {
        return SL_ERROR;
    }
    sl_buf_puts(out, key_id);
    sl_buf_append(out, ":", 1);
    sl_base64_encode_as(out, mac, 16, SL_BASE64_URL | SL_BASE64_NOPAD);
    return SL_OK;
}

struct sl_hmac {
    EVP_MD_CTX *inner; /* SHA-256 after (key ^ ipad) */
    EVP_MD_CTX *outer; /* SHA-256 after (key ^ opad) */
    char key_id[65];
};

sl_hmac_t *sl_hmac_new(const uint8_t *key, size_t key_len, const char *key_id) {
    if (key == NULL || key_len < SL_REDACT_HMAC_MIN_KEY || !key_id_ok(key_id)) {
        return NULL;
    }
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    uint8_t block[64] = {0};
    unsigned int klen = 0;
    if (key_len > sizeof(block)) { /* RFC 2104: a long key is hashed first */
        EVP_Digest(key, key_len, block, &klen, md, NULL);
    } else {
        memcpy(block, key, key_len);
    }
    sl_hmac_t *h = calloc(1, sizeof(*h));
    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();
    uint8_t pad[64];
    for (size_t i = 0; i < 64; i++) {
        pad[i] = block[i] ^ 0x36;
    }
    bool ok = EVP_DigestInit_ex(h->inner, md, NULL) == 1 &&
              EVP_DigestUpdate(h->inner, pad, sizeof(pad)) == 1;
    for (size_t i = 0; i < 64; i++) {
        pad[i] = block[i] ^ 0x5c;
    }
    ok = ok && EVP_DigestInit_ex(h->outer, md, NULL) == 1 &&
         EVP_DigestUpdate(h->outer, pad, sizeof(pad)) == 1;
    explicit_bzero(block, sizeof(block));
    explicit_bzero(pad, sizeof(pad));
    EVP_MD_free(md);
    snprintf(h->key_id, sizeof(h->key_id), "%s", key_id);
    if (!ok) {
        sl_hmac_free(h);
        return NULL;
    }
    return h;
}

void sl_hmac_free(sl_hmac_t *h) {
    if (h == NULL) {
        return;
    }
    EVP_MD_CTX_free(h->inner);
    EVP_MD_CTX_free(h->outer);
    free(h);
}

sl_status_t sl_hmac_redact(const sl_hmac_t *h, const char *in, size_t n, sl_buf_t *out) {
    uint8_t inner[32], mac[32];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_MD_CTX_copy_ex(ctx, h->inner) == 1 &&
              EVP_DigestUpdate(ctx, n > 0 ? in : "", n) == 1 &&
              EVP_DigestFinal_ex(ctx, inner, &len) == 1 && EVP_MD_CTX_copy_ex(ctx, h->outer) == 1 &&
              EVP_DigestUpdate(ctx, inner, sizeof(inner)) == 1 &&
              EVP_DigestFinal_ex(ctx, mac, &len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        return SL_ERROR;
    }
    sl_buf_puts(out, h->key_id);
    sl_buf_append(out, ":", 1);
    sl_base64_encode_as(out, mac, 16, SL_BASE64_URL | SL_BASE64_NOPAD);
    return SL_OK;
}

/* --- mask ------------------------------------------------------------------------------------ */

static bool is_continuation(char c) {
    return ((unsigned char)c & 0xC0) == 0x80;
}

void sl_redact_mask(const char *in, size_t n, size_t keep_last, sl_buf_t *out) {
    /* Walk back over keep_last code points: the tail starts at the keep_last-th lead byte from
     * the end. Everything before it is masked, one '*' per lead byte. */
    size_t tail = n;
    for (size_t kept = 0; kept < keep_last && tail > 0;) {
        tail--;
        if (!is_continuation(in[tail])) {
            kept++;
        }
    }
    static const char stars[] = "****************************************************************";
    size_t masked = 0;
    for (size_t i = 0; i < tail; i++) {
        masked += !is_continuation(in[i]);
    }
    while (masked > 0) {
        size_t k = masked < sizeof(stars) - 1 ? masked : sizeof(stars) - 1;
        sl_buf_append(out, stars, k);
        masked -= k;
    }
    if (tail < n) {
        sl_buf_append(out, in + tail, n - tail);
    }
}

/* --- truncate_ip ----------------------------------------------------------------------------- */

/* The longest text accepted: an IPv6 address with embedded IPv4 (45) plus '%' and a zone. */
#define IP_TEXT_MAX (INET6_ADDRSTRLEN + 1 + 64)

static void put_v4(const uint8_t *a, sl_buf_t *out) {
    sl_buf_printf(out, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
}

sl_status_t sl_redact_truncate_ip(const char *in, size_t n, sl_buf_t *out) {
    if (in == NULL || n == 0 || n > IP_TEXT_MAX) {
        return SL_REJECT;
    }
    char text[IP_TEXT_MAX + 1];
    memcpy(text, in, n);
    text[n] = '\0';
    if (strlen(text) != n) {
        return SL_REJECT; /* an embedded NUL would hide the rest from inet_pton */
    }
    char *zone = strchr(text, '%');
    if (zone != NULL) {
        size_t zn = n - (size_t)(zone - text) - 1;
        if (zn == 0 || zn > 64) {
            return SL_REJECT;
        }
        for (const char *z = zone + 1; *z != '\0'; z++) {
            if (*z <= ' ' || *z > '~' || *z == '%') {
                return SL_REJECT;
            }
        }
        *zone = '\0';
    }
    uint8_t a[16];
    if (zone == NULL && inet_pton(AF_INET, text, a) == 1) {
        a[3] = 0;
        put_v4(a, out);
        return SL_OK;
    }
    if (inet_pton(AF_INET6, text, a) != 1) {
        return SL_REJECT;
    }
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, sizeof(mapped)) == 0) {
        a[15] = 0;
        sl_buf_puts(out, "::ffff:");
        put_v4(a + 12, out);
        return SL_OK;
    }
    /* 6to4 puts the site's IPv4 address in bytes 2..5: keep only its /24. */
    size_t keep = a[0] == 0x20 && a[1] == 0x02 ? 5 : 6;
    memset(a + keep, 0, sizeof(a) - keep);
    char w[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, a, w, sizeof(w)) == NULL) {
        return SL_ERROR;
    }
    /* glibc's inet_ntop follows RFC 5952 (lower case, longest run of two or more zero groups
     * compressed, the first on a tie); with bytes 6..15 zero it never prints the dotted IPv4
     * tail it uses for ::a.b.c.d. */
    sl_buf_puts(out, w);
    return SL_OK;
}

/* --- coarsen --------------------------------------------------------------------------------- */

double sl_redact_coarsen(double v, int decimals) {
    if (!isfinite(v)) {
        return v;
    }
    if (decimals < 0) {
        decimals = 0;
    } else if (decimals > 6) {
        decimals = 6;
    }
    /* The shortest decimal of v as sign, digits d[0..nd) and exp: v = 0.d0d1d2... * 10^exp. */
    char text[40];
    size_t len = sl_num_double(v, text);
    bool neg = false;
    char d[40];
    int nd = 0;
    int point = -1; /* digits before the decimal point */
    size_t i = 0;
    if (text[i] == '-') {
        neg = true;
        i++;
    }
    for (; i < len && text[i] != 'e' && text[i] != 'E'; i++) {
        if (text[i] == '.') {
            point = nd;
        } else if (nd < (int)sizeof(d)) {
            d[nd++] = text[i];
        }
    }
    if (point < 0) {
        point = nd;
    }
    if (i < len) {
        point += (int)strtol(text + i + 1, NULL, 10);
    }
    int lead = 0; /* leading zeros ("0.05") carry no digits */
    while (lead < nd && d[lead] == '0') {
        lead++;
        point--;
    }
    if (lead == nd) {
        return 0.0;
    }
    /* keep = the digits left once rounded to decimals places. */
    int keep = point + decimals;
    int have = nd - lead;
    if (keep >= have) {
        return v;
    }
    unsigned long long m = 0;
    for (int k = 0; k < keep; k++) {
        m = m * 10 + (unsigned long long)(d[lead + k] - '0');
    }
    if (keep >= 0 && d[lead + keep] >= '5') {
        m++; /* half or more of the last kept unit: away from zero */
    }
    if (m == 0) {
        return 0.0;
    }
    /* m * 10^-decimals, read with strtod so the result is the double nearest that decimal. No
     * decimal point in the text, so the locale cannot change how it reads. */
    char r[48];
    snprintf(r, sizeof(r), "%s%llue-%d", neg ? "-" : "", m, decimals);
    return strtod(r, NULL);
}
