/* policy/scrub: e-mails, phones, cards and IPs in free text, replaced by typed placeholders. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/utf8.h"
#include "policy/scrub.h"

static char result[4096];

/* Scrubs in with kinds; the text in result, the replacement count returned. */
static size_t scrub_k(const char *in, unsigned kinds) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    size_t count = sl_scrub(in, strlen(in), kinds, &b);
    cr_assert(lt(sz, b.len, sizeof(result)));
    memcpy(result, b.data, b.len);
    result[b.len] = '\0';
    sl_buf_free(&b);
    return count;
}

static void expect_k(const char *in, unsigned kinds, const char *want, size_t count) {
    size_t got = scrub_k(in, kinds);
    cr_assert(eq(str, result, (char *)want), "input: %s", in);
    cr_assert(eq(sz, got, count), "input: %s -> %s", in, result);
}

static void expect(const char *in, const char *want, size_t count) {
    expect_k(in, SL_SCRUB_ALL, want, count);
}

static void unchanged(const char *in) {
    expect(in, in, 0);
}

Test(scrub, empty) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    cr_assert(eq(sz, sl_scrub(NULL, 0, SL_SCRUB_ALL, &b), 0));
    cr_assert(eq(sz, sl_scrub("", 0, SL_SCRUB_ALL, &b), 0));
    cr_assert(eq(sz, b.len, 0));
    sl_buf_free(&b);
    unchanged("nothing to see here");
}

Test(scrub, reads_only_n_bytes) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    /* the text ends after ".fr": the 'x' that would make the TLD "frx" is not read */
    cr_assert(eq(sz, sl_scrub("a jean@exemple.frx", 17, SL_SCRUB_ALL, &b), 1));
    cr_assert(eq(str, (char *)sl_buf_cstr(&b), "a [email]"));
    sl_buf_free(&b);
}

/* --- e-mail ---------------------------------------------------------------------------------- */

Test(scrub, email) {
    expect("write to jean.dupont@exemple.fr please", "write to [email] please", 1);
    expect("jean@exemple.fr", "[email]", 1);                 /* the whole text */
    expect("jean@exemple.fr is mine", "[email] is mine", 1); /* at the very start */
    expect("mine: jean@exemple.fr", "mine: [email]", 1);     /* at the very end */
    expect("mail jean@exemple.fr.", "mail [email].", 1);     /* sentence dot left out */
    expect("<Jean.Dupont+news@Mail.Example.CO.UK>", "<[email]>", 1);
    expect("a_b%c-d@sub-domain.example.org", "[email]", 1);
    expect("mailto:x@y.io,z@w.io", "mailto:[email],[email]", 2);
    expect("0612345678@sms.example.com", "[email]", 1); /* an e-mail before a phone */
    expect("u@xn--exmple-cua.fr", "[email]", 1);        /* punycode domain */
    expect("u@exemple.xn--p1ai", "[email]", 1);         /* punycode TLD */
    expect("a@b.com.2x", "[email].2x", 1);              /* ends at the last TLD */
    expect("...jean@exemple.fr", "...[email]", 1);      /* leading dots are not in it */
    expect("a/b@exemple.fr", "a/[email]", 1);           /* '/' ends the local part */
}

Test(scrub, not_email) {
    unchanged("jean@localhost");                  /* one label */
    unchanged("jean@exemple.f");                  /* one-letter TLD */
    unchanged("jean@exemple.123");                /* numeric TLD */
    unchanged("jean@-exemple.fr");                /* label starting with '-' */
    unchanged("@exemple.fr");                     /* no local part */
    unchanged("jean@");                           /* no domain */
    unchanged("jean @ exemple.fr");               /* spaces */
    unchanged("a@b@c");                           /* nothing valid */
    unchanged("jean@exémple.fr");                 /* ASCII domains only */
    unchanged("@@@@....@@@@");                    /* punctuation */
    expect("jean@[192.0.2.1]", "jean@[[ip]]", 1); /* an address literal: the IP goes */
}

Test(scrub, email_and_unicode) {
    expect("café: jean.dupont@exemple.fr — ☎ +33 6 12 34 56 78", "café: [email] — ☎ [phone]", 2);
    /* a non-ASCII letter right before the local part is not part of it, and stays whole */
    expect("éjean@exemple.fr", "é[email]", 1);
    expect("josé.garcia@exemple.fr", "josé.[email]", 1);
    expect("日本jean@exemple.fr日本", "日本[email]日本", 1);
    expect("«jean@exemple.fr»", "«[email]»", 1);
    expect("jean@exemple.fr—merci", "[email]—merci", 1);
    expect("😀jean@exemple.fr😀", "😀[email]😀", 1);
}

/* --- cards ----------------------------------------------------------------------------------- */

Test(scrub, cards) {
    expect("card 4111 1111 1111 1111 ok", "card [card] ok", 1);
    expect("4111111111111111", "[card]", 1);
    expect("5500-0000-0000-0004", "[card]", 1);
    expect("amex 378282246310005.", "amex [card].", 1);
    expect("amex 3782 822463 10005", "amex [card]", 1);
    expect("(4111-1111-1111-1111)", "([card])", 1);
    /* a card followed by its CVV: the card is the leading groups that pass */
    expect("4111 1111 1111 1111 123", "[card] 123", 1);
    expect("Visa:4111111111111111,exp 12/28", "Visa:[card],exp 12/28", 1);
}

Test(scrub, luhn_failures) {
    /* 16 digits failing Luhn: not a card, too long for a phone: left alone whole */
    unchanged("4111 1111 1111 1112");
    unchanged("4111-1111-1111-1112");
    unchanged("4111111111111112");
    /* 13 digits failing Luhn: not a card, but a phone by the phone rule */
    expect("1234 5678 9012 3", "[phone]", 1);
    expect("0033612345678", "[phone]", 1);
    /* longer than 19 digits: neither */
    unchanged("41111111111111111111");
    unchanged("order 12345678901234567890123");
    /* a card glued to letters is part of a word */
    unchanged("x4111111111111111");
    unchanged("4111111111111111x");
    /* mixed separators: one number of 4 groups, not a card; 16 digits is no phone */
    unchanged("4111 1111-1111 1111");
}

Test(scrub, card_kinds_stay_cards) {
    /* with cards off, a card is left as it is, not reported as a phone */
    expect_k("4111 1111 1111 1111", SL_SCRUB_PHONE, "4111 1111 1111 1111", 0);
    expect_k("378282246310005", SL_SCRUB_ALL & ~(unsigned)SL_SCRUB_CARD, "378282246310005", 0);
    expect_k("4111 1111 1111 1111", SL_SCRUB_CARD, "[card]", 1);
}

/* --- phones ---------------------------------------------------------------------------------- */

Test(scrub, phones) {
    expect("call +33 6 12 34 56 78 now", "call [phone] now", 1);
    expect("+33612345678", "[phone]", 1);
    expect("06 12 34 56 78", "[phone]", 1);
    expect("06.12.34.56.78", "[phone]", 1);
    expect("06-12-34-56-78", "[phone]", 1);
    expect("+1 (555) 123-4567", "[phone]", 1);
    expect("(555) 123-4567", "[phone]", 1);
    expect("+33 (0)6 12 34 56 78", "[phone]", 1);
    expect("555.123.4567", "[phone]", 1);
    expect("tel:+49-30-1234567;", "tel:[phone];", 1);
    expect("1234567", "[phone]", 1);
    expect("123456789012345", "[phone]", 1);
    expect("tel-0612345678", "tel-[phone]", 1);
    /* two numbers in a row */
    expect("0612345678 0698765432", "[phone] [phone]", 2);
    expect("06 12 34 56 78 - 06 98 76 54 32", "[phone] - [phone]", 2);
    expect("0612345678/0698765432", "[phone]/[phone]", 2);
    expect("0612345678,0698765432", "[phone],[phone]", 2);
}

Test(scrub, not_phones) {
    unchanged("123456");                 /* too short */
    unchanged("1234567890123456");       /* 16 digits: part of a longer run (fails Luhn) */
    unchanged("+ 33");                   /* '+' then a space */
    unchanged("52.520008");              /* a decimal */
    unchanged("-13.404954,52.520008");   /* coordinates */
    unchanged("pi is 3.14159265358979"); /* a decimal */
    unchanged("abc1234567");             /* inside a word */
    unchanged("1234567abc");
    unchanged("1234567_");
}

Test(scrub, parenthesis_left_open) {
    /* the '(' is never closed, so it is not part of the number: the phone starts after it */
    expect("(06 12 34 56 78", "([phone]", 1);
    expect("(+33 6 12 34 56 78", "([phone]", 1);
}

Test(scrub, dates_and_times_are_not_phones) {
    unchanged("2026-11-27");
    unchanged("on 2026-11-27 at 12:30");
    unchanged("2026-11-27T12:30:00Z");
    unchanged("2026-11-27T12:30:00.123456+01:00");
    unchanged("27.11.2026 12:30:45");
    unchanged("27-11-2026");
    unchanged("11/27/2026");
    unchanged("2026/11/27");
    unchanged("2026.11.27");
    unchanged("12:30:45");
    unchanged("from 09:00 to 17:30");
    unchanged("2026-11-27 - 2026-12-03");
    /* a date, then a phone */
    expect("2026-11-27 0612345678", "2026-11-27 [phone]", 1);
    expect("27.11.2026 +33 6 12 34 56 78", "27.11.2026 [phone]", 1);
}

/* --- IP addresses ---------------------------------------------------------------------------- */

Test(scrub, ipv4) {
    expect("from 203.0.113.77 today", "from [ip] today", 1);
    expect("203.0.113.77", "[ip]", 1);
    expect("ip=10.0.0.1:8080", "ip=[ip]:8080", 1);
    expect("net 10.0.0.0/8.", "net [ip]/8.", 1);
    expect("192.168.001.010", "[ip]", 1);
    /* a version of four parts up to 255 is an IPv4 address (scrub.h) */
    expect("version 1.2.3.4", "version [ip]", 1);
    unchanged("version 1.2.3");
    unchanged("version 1.2.3.4.5");
    unchanged("v1.2.3.4");
    unchanged("1.2.3.4a");
    /* 256 is no octet; 1.2.3.256 is then a number of 6 digits (too short for a phone), while
     * 10.20.30.400 has 9 digits in groups joined by dots: a phone by the phone rule */
    unchanged("1.2.3.256");
    expect("10.20.30.400", "[phone]", 1);
}

Test(scrub, ipv6) {
    expect("from 2001:db8::1 today", "from [ip] today", 1);
    expect("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[ip]", 1);
    expect("[2001:DB8::1]:443", "[[ip]]:443", 1);
    expect("lo ::1.", "lo [ip].", 1);
    expect("link fe80::1%eth0 up", "link [ip] up", 1);
    expect("mapped ::ffff:203.0.113.77,", "mapped [ip],", 1);
    expect("ip:2001:db8::1", "ip:[ip]", 1);
    expect("fe80::1: down", "[ip]: down", 1);
    unchanged("dead::beef");        /* no decimal digit */
    unchanged("std::vector");       /* not hex */
    unchanged("00:1a:2b:3c:4d:5e"); /* a MAC address */
    unchanged("2001:db8::1g");      /* glued to a letter */
    unchanged("1:2:3:4:5:6:7:8:9"); /* too many groups */
}

Test(scrub, ip_kind_off) {
    expect_k("203.0.113.77 and 0612345678", SL_SCRUB_PHONE, "203.0.113.77 and [phone]", 1);
    expect_k("203.0.113.77 and 0612345678", SL_SCRUB_IP, "[ip] and 0612345678", 1);
    expect_k("jean@exemple.fr 2001:db8::1", SL_SCRUB_EMAIL, "[email] 2001:db8::1", 1);
    expect_k("jean@exemple.fr 0612345678", 0, "jean@exemple.fr 0612345678", 0);
}

/* --- together -------------------------------------------------------------------------------- */

Test(scrub, several_in_one_text) {
    expect("Jean (jean.dupont@exemple.fr, +33 6 12 34 56 78) paid with 4111 1111 1111 1111 "
           "from 203.0.113.77 / 2001:db8::42 on 2026-11-27 at 10:15.",
           "Jean ([email], [phone]) paid with [card] from [ip] / [ip] on 2026-11-27 at 10:15.", 5);
    expect("a@b.co 4111111111111111 1.2.3.4 ::1 0612345678", "[email] [card] [ip] [ip] [phone]", 5);
    expect("ÉTÉ: 0612345678 • 😀 • a@b.co", "ÉTÉ: [phone] • 😀 • [email]", 2);
}

/* --- robustness ------------------------------------------------------------------------------ */

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Scrubs text (n bytes), checks the output is valid UTF-8 and no longer than needed, and returns
 * the time it took. */
static double timed(const char *text, size_t n) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    double t0 = seconds();
    size_t count = sl_scrub(text, n, SL_SCRUB_ALL, &b);
    double dt = seconds() - t0;
    cr_assert(sl_utf8_valid(b.data, b.len), "output is not valid UTF-8");
    cr_assert(le(sz, b.len, n + count * 7));
    sl_buf_free(&b);
    return dt;
}

#define BIG ((size_t)64 * 1024)

Test(scrub, random_text_64k) {
    /* Pieces that make recognizers start and give up: digits, separators, '@', ':', dots, hex,
     * multi-byte characters. */
    static const char *const pieces[] = {
        "0",  "1",    "5",  "9",   " ",  ".",    "-",   ":",     "+",  "(", ")", "@",
        "a",  "f",    "x",  "Z",   "_",  "%",    "/",   ",",     "é",  "€", "😀", "日",
        "::", "4111", "ff", ".fr", "@b", "xn--", "1.2", "2026-", "\n", "\t"};
    static char text[BIG + 8];
    size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
    srand(20261127);
    for (int round = 0; round < 5; round++) {
        size_t n = 0;
        while (n < BIG) {
            const char *p = pieces[(size_t)rand() % npieces];
            while (*p != '\0') {
                text[n++] = *p++;
            }
        }
        cr_assert(sl_utf8_valid(text, n));
        double dt = timed(text, n);
        cr_assert(lt(dbl, dt, 0.25), "64 KiB took %.3f s", dt);
    }
}

Test(scrub, adversarial_64k_is_linear) {
    /* Inputs built to make a naive scanner quadratic: long local-part runs without '@', long
     * digit runs, many near-IPs, many '@'s, long hex/colon runs. */
    static const char *const units[] = {"a",  "a.1.2.3.4-", "1",  "1 ", "a@", "@a.",        ":",
                                        "1:", "f",          "1.", "+1", "(1", "a-1.2.3.4-", "é"};
    static char text[BIG + 16];
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t k = strlen(units[u]);
        size_t n = 0;
        while (n + k <= BIG) {
            memcpy(text + n, units[u], k);
            n += k;
        }
        double dt = timed(text, n);
        cr_assert(lt(dbl, dt, 0.25), "unit \"%s\": 64 KiB took %.3f s", units[u], dt);
    }
    /* a single 64 KiB local part, then an e-mail */
    size_t n = 0;
    memset(text, 'a', BIG - 16);
    n = BIG - 16;
    memcpy(text + n, "@exemple.fr", 12); /* with its NUL */
    n += 11;
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    cr_assert(eq(sz, sl_scrub(text, n, SL_SCRUB_ALL, &b), 1));
    cr_assert(eq(str, (char *)sl_buf_cstr(&b), "[email]"));
    sl_buf_free(&b);
}

Test(scrub, never_splits_characters) {
    /* Every multi-byte character of the input is in the output, in order, whole. */
    const char *in = "é4111111111111111é€0612345678€😀1.2.3.4😀日a@b.co日";
    expect(in, "é[card]é€[phone]€😀[ip]😀日[email]日", 4);
}
