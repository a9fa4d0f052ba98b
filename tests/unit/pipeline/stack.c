#include "stack.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>

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
