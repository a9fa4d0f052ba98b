#include "stack.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "sink/embedded.h"
#include "support.h"

void t_stack_open(t_stack_t *s, const char *const *sets) {
    s->cfg = t_publish(sets);
    sl_error_t err = {0};
    cr_assert(eq(int, sl_sink_new(s->cfg, sl_pipeline_on_delivery, &s->sink, &err), SL_OK), "%s",
              err.message);
    s->mc = sl_embedded_cluster(sl_sink_embedded(s->sink));
    s->pl = sl_pipeline_new(s->sink);
    cr_assert(sl_pipeline_sink(s->pl) == s->sink);
    s->token = sl_auth_mint(
        s->cfg, &(sl_mint_t){.tenant = "acme", .subject = "tester", .ttl_s = 600}, &err);
    cr_assert(s->token != NULL, "%s", err.message);
    cr_assert(t_wait_until(t_sink_ready, s->sink, 10000), "the embedded sink is not ready");
}

void t_stack_close(t_stack_t *s) {
    free(s->token);
    if (s->sink != NULL) {
        sl_sink_destroy(s->sink); /* first: its last delivery reports still reach the pipeline */
    }
    sl_pipeline_free(s->pl);
    if (s->cfg != NULL) {
        t_unpublish(s->cfg);
    }
    *s = (t_stack_t){0};
}

static void on_complete(sl_request_t *req, void *ctx) {
    t_done_t *d = ctx;
    size_t pending = 0;
    for (size_t i = 0; i < req->n_events; i++) {
        pending += req->events[i].outcome == SL_OUT_PENDING;
    }
    pthread_mutex_lock(&d->mu);
    d->calls++;
    d->thread = pthread_self();
    d->pending_at_complete = pending;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void t_submit(sl_pipeline_t *pl, const char *body, const char *bearer, t_done_t *d) {
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->calls = 0;
    sl_request_t *req = sl_request_new(pl);
    cr_assert(req != NULL);
    req->media_type = "application/json";
    req->body = body;
    req->body_len = strlen(body);
    if (bearer != NULL) {
        req->bearer = bearer;
        req->bearer_len = strlen(bearer);
    }
    d->req = req;
    sl_pipeline_submit(req, on_complete, d);
}

sl_request_t *t_wait_done(t_done_t *d, int timeout_s) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_s;
    pthread_mutex_lock(&d->mu);
    while (d->calls == 0) {
        if (pthread_cond_timedwait(&d->cv, &d->mu, &until) != 0) {
            break;
        }
    }
    int calls = d->calls;
    pthread_mutex_unlock(&d->mu);
    cr_assert(eq(int, calls, 1), "on_complete was not called within %d s", timeout_s);
    return d->req;
}

bool t_done_yet(t_done_t *d) {
    pthread_mutex_lock(&d->mu);
    int calls = d->calls;
    pthread_mutex_unlock(&d->mu);
    return calls > 0;
}
