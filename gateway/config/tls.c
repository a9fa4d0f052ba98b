/* config/tls: the SSL_CTX of listen.tls, built when a snapshot is validated so that a reload
 * with a bad certificate is refused like any other bad value. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#include "config/config.h"

/* ALPN: h2 when the client offers it, else http/1.1. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const unsigned char prefs[] = "\x02h2\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, prefs, sizeof(prefs) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK; /* no ALPN: HTTP/1.1 */
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static sl_status_t ssl_fail(const char *key, const char *path, sl_error_t *err) {
    char why[256];
    ERR_error_string_n(ERR_get_error(), why, sizeof(why));
    ERR_clear_error();
    return sl_error_set(err, SL_REJECT, "config_wrong_value", "%s: %s: %s", key, path, why);
}

sl_status_t sl_config_load_tls(sl_config_t *cfg, sl_error_t *err) {
    if (cfg->listen.tls[0] == '\0') {
        return SL_OK;
    }
    if (cfg->tls.cert_file[0] == '\0' || cfg->tls.key_file[0] == '\0') {
        return sl_error_set(err, SL_REJECT, "config_missing",
                            "listen.tls is set: tls.cert_file and tls.key_file are required");
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        return sl_error_set(err, SL_ERROR, "internal", "listen.tls: SSL_CTX_new failed");
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls.cert_file) != 1) {
        SSL_CTX_free(ctx);
        return ssl_fail("tls.cert_file", cfg->tls.cert_file, err);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls.key_file, SSL_FILETYPE_PEM) != 1) {
        SSL_CTX_free(ctx);
        return ssl_fail("tls.key_file", cfg->tls.key_file, err);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return sl_error_set(err, SL_REJECT, "config_conflict",
                            "tls.key_file: %s is not the key of tls.cert_file %s",
                            cfg->tls.key_file, cfg->tls.cert_file);
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    cfg->tls_ctx = ctx;
    return SL_OK;
}

void sl_config_free_tls(sl_config_t *cfg) {
    SSL_CTX_free(cfg->tls_ctx);
    cfg->tls_ctx = NULL;
}
