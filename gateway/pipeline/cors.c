/* pipeline/cors: browser origins per tenant (cors.origins). A page may send only to the tenants
 * that list its origin; the token, never a cookie, authenticates it. */
#include <string.h>

#include "core/words.h"
#include "pipeline/pipeline.h"

/* Whether origin is listed in cors.origins for tenant (NULL: for any tenant). The list is
 * "tenant=o1,o2 tenant2=o3": scanned in place, it is short and read once per browser request. */
bool sl_cors_listed(const sl_config_t *cfg, const char *tenant, const char *origin) {
    const char *s = cfg->cors.origins;
    size_t ol = strlen(origin);
    size_t tl = tenant != NULL ? strlen(tenant) : 0;
    size_t w;
    for (const char *word; (word = sl_word_next(&s, &w)) != NULL;) {
        const char *eq = memchr(word, '=', w);
        if (eq == NULL ||
            (tenant != NULL && ((size_t)(eq - word) != tl || memcmp(word, tenant, tl) != 0))) {
            continue;
        }
        for (const char *o = eq + 1, *end = word + w; o < end;) {
            const char *comma = memchr(o, ',', (size_t)(end - o));
            size_t n = comma != NULL ? (size_t)(comma - o) : (size_t)(end - o);
            if (n == ol && memcmp(o, origin, ol) == 0) {
                return true;
            }
            o += n + 1;
        }
    }
    return false;
}

/* Whether origin is one of the words of the token's origins claim. */
static bool in_claim(const char *origins, const char *origin) {
    size_t ol = strlen(origin), w;
    const char *s = origins != NULL ? origins : "";
    for (const char *word; (word = sl_word_next(&s, &w)) != NULL;) {
        if (w == ol && memcmp(word, origin, ol) == 0) {
            return true;
        }
    }
    return false;
}

sl_status_t sl_stage_cors(sl_request_t *req) {
    if (req->origin == NULL) {
        return SL_OK; /* not a browser: nothing to check */
    }
    if (!sl_cors_listed(req->cfg, req->principal.tenant, req->origin) &&
        !in_claim(req->principal.origins, req->origin)) {
        return sl_request_fail(req, SL_FAULT_FORBIDDEN, "origin_not_allowed",
                               "origin %.200s may not send events for tenant \"%s\" (cors.origins, "
                               "or the token's cors.origins_claim)",
                               req->origin,
                               req->principal.tenant != NULL ? req->principal.tenant : "");
    }
    req->allowed_origin = req->origin;
    return SL_OK;
}
