/*
 * test_config.c - durations, aggregation specifications, the canonical
 * description and the fingerprint.
 *
 * Layout: accepted durations with their values and the int64 boundary per
 * unit; rejected durations with the message they must carry; aggregation
 * specs accepted and rejected (one table each); finish, describe and
 * fingerprint.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "pl_config.h"

struct dur_ok {
    const char *s;
    int64_t ns;
};

static const struct dur_ok durs_ok[] = {
    {"0", 0},
    {"1", 1},
    {"0s", 0},
    {"5ns", 5},
    {"7us", 7000},
    {"3ms", 3000000},
    {"2s", 2000000000},
    {"5m", 300000000000LL},
    {"1h", 3600000000000LL},
    {"007s", 7000000000LL},
    {"0000000000000000000000000001", 1},
    {"9223372036854775807", INT64_MAX},
    {"9223372036854775807ns", INT64_MAX},
    {"9223372036854775us", 9223372036854775000LL},
    {"9223372036854ms", 9223372036854000000LL},
    {"9223372036s", 9223372036000000000LL},
    {"153722867m", 9223372020000000000LL},
    {"2562047h", 9223369200000000000LL},
};

struct dur_bad {
    const char *s;
    const char *why; /* a fragment the message must contain */
};

static const struct dur_bad durs_bad[] = {
    {"", "empty"},
    {"+5s", "sign"},
    {"-5s", "sign"},
    {" 5s", "whitespace"},
    {"5 s", "whitespace"},
    {"5s ", "whitespace"},
    {"5\ts", "whitespace"},
    {"5x", "unknown duration unit 'x'"},
    {"1fortnight", "unknown duration unit 'fortnight'"},
    {"5S", "unknown duration unit 'S'"},
    {"5sec", "unknown duration unit 'sec'"},
    {"5mm", "unknown duration unit 'mm'"},
    {"5s5", "unknown duration unit 's5'"},
    {"s", "integer"},
    {"ms", "integer"},
    {"1.5s", "fraction"},
    {"1e9", "unknown duration unit 'e9'"},
    {"0x10", "unknown duration unit 'x10'"},
    {"9223372036854775808", "64 bits"},
    {"99999999999999999999999", "64 bits"},
    {"9223372036854776us", "64 bits"},
    {"9223372036855ms", "64 bits"},
    {"9223372037s", "64 bits"},
    {"153722868m", "64 bits"},
    {"2562048h", "64 bits"},
};

START_TEST(test_duration_ok)
{
    const struct dur_ok *c = &durs_ok[_i];
    int64_t v = -42;
    pl_errbuf eb = {{0}};
    ck_assert_msg(pl_parse_duration(c->s, "--max-delay", &v, &eb) == 0, "'%s': %s", c->s,
                  eb.msg);
    ck_assert_msg(v == c->ns, "'%s' -> %lld, want %lld", c->s, (long long)v, (long long)c->ns);
}
END_TEST

START_TEST(test_duration_bad)
{
    const struct dur_bad *c = &durs_bad[_i];
    int64_t v = -42;
    pl_errbuf eb = {{0}};
    char quoted[64];
    ck_assert_int_eq(pl_parse_duration(c->s, "--idle-timeout", &v, &eb), PL_EUSAGE);
    ck_assert_int_eq(v, -42); /* untouched on failure */
    snprintf(quoted, sizeof quoted, "--idle-timeout '%s': ", c->s);
    ck_assert_msg(strncmp(eb.msg, quoted, strlen(quoted)) == 0, "'%s': message '%s'", c->s,
                  eb.msg);
    ck_assert_msg(strstr(eb.msg, c->why) != NULL, "'%s': message '%s' lacks '%s'", c->s, eb.msg,
                  c->why);
}
END_TEST

START_TEST(test_duration_null_eb)
{
    int64_t v = 0;
    ck_assert_int_eq(pl_parse_duration("5x", "--max-delay", &v, NULL), PL_EUSAGE);
    ck_assert_int_eq(pl_parse_duration(NULL, "--max-delay", &v, NULL), PL_EUSAGE);
    ck_assert_int_eq(pl_parse_duration("5s", NULL, &v, NULL), 0);
    ck_assert_int_eq(v, 5000000000LL);
}
END_TEST

struct agg_ok {
    const char *arg;
    const char *name;
    int kind;
    int64_t size, slide, threshold;
};

static const struct agg_ok aggs_ok[] = {
    {"1m=tumbling:1m", "1m", PL_AGG_TUMBLING, 60000000000LL, 60000000000LL, 0},
    {"t=tumbling:1", "t", PL_AGG_TUMBLING, 1, 1, 0},
    {"s5=sliding:5m:1m", "s5", PL_AGG_SLIDING, 300000000000LL, 60000000000LL, 0},
    {"gap=sliding:1s:1m", "gap", PL_AGG_SLIDING, 1000000000LL, 60000000000LL, 0},
    {"k=ticks:100", "k", PL_AGG_TICKS, 0, 0, 100},
    {"vol10k=volume:10000", "vol10k", PL_AGG_VOLUME, 0, 0, 10000},
    {"d=dollar:1000000", "d", PL_AGG_DOLLAR, 0, 0, 1000000},
    {"dmax=dollar:9223372036854775807", "dmax", PL_AGG_DOLLAR, 0, 0, INT64_MAX},
    {"z=ticks:0001", "z", PL_AGG_TICKS, 0, 0, 1},
    {"A.b_c-9=ticks:1", "A.b_c-9", PL_AGG_TICKS, 0, 0, 1},
    {"abcdefghijklmnopqrstuvwxyz01234=ticks:2", "abcdefghijklmnopqrstuvwxyz01234",
     PL_AGG_TICKS, 0, 0, 2},
};

START_TEST(test_agg_ok)
{
    const struct agg_ok *c = &aggs_ok[_i];
    pl_config cfg;
    pl_errbuf eb = {{0}};
    pl_config_init(&cfg);
    ck_assert_msg(pl_config_add_agg(&cfg, c->arg, &eb) == 0, "'%s': %s", c->arg, eb.msg);
    ck_assert_int_eq(cfg.naggs, 1);
    ck_assert_str_eq(cfg.aggs[0].name, c->name);
    ck_assert_int_eq(cfg.aggs[0].kind, c->kind);
    ck_assert_int_eq(cfg.aggs[0].size, c->size);
    ck_assert_int_eq(cfg.aggs[0].slide, c->slide);
    ck_assert_int_eq(cfg.aggs[0].threshold, c->threshold);
}
END_TEST

struct agg_bad {
    const char *arg;
    const char *why;
};

static const struct agg_bad aggs_bad[] = {
    {"5m=tumbling:5x", "unknown duration unit 'x'"},
    {"x=wobbly:1s", "unknown aggregation kind 'wobbly'"},
    {"x=Tumbling:1s", "unknown aggregation kind"},
    {"x=", "unknown aggregation kind ''"},
    {"=tumbling:1m", "empty aggregation name"},
    {"tumbling:1m", "missing '='"},
    {"", "missing '='"},
    {"abcdefghijklmnopqrstuvwxyz012345=ticks:2", "longer than 31"},
    {"a b=ticks:2", "invalid character"},
    {"a/b=ticks:2", "invalid character"},
    {"a:b=ticks:2", "invalid character"},
    {"a=tumbling", "missing fields"},
    {"a=tumbling:", "empty"},
    {"a=tumbling:0", "positive"},
    {"a=tumbling:0s", "positive"},
    {"a=tumbling:-1m", "sign"},
    {"a=tumbling:1m:1m", "too many fields"},
    {"a=tumbling:1m:", "too many fields"},
    {"a=sliding:1m", "missing fields"},
    {"a=sliding:1m:", "empty"},
    {"a=sliding:1m:0", "slide must be positive"},
    {"a=sliding:1048577:1", "fall in 1048577 windows"},
    {"a=sliding:1048577ns:1ns", "the limit is 1048576"},
    {"a=sliding:0:1m", "size must be positive"},
    {"a=sliding:1m:1s:1s", "too many fields"},
    {"a=sliding:1m:1s:1s:1s:1s", "too many fields"},
    {"a=sliding:9223372037s:1s", "64 bits"},
    {"a=ticks:0", "positive"},
    {"a=ticks:", "empty"},
    {"a=ticks:5s", "not a plain integer"},
    {"a=ticks:1.5", "not a plain integer"},
    {"a=ticks:+5", "sign"},
    {"a=ticks: 5", "whitespace"},
    {"a=ticks:5:6", "too many fields"},
    {"a=volume:-5", "sign"},
    {"a=volume:x", "decimal integer"},
    {"a=dollar:9223372036854775808", "64-bit"},
    {"a=dollar:0000", "positive"},
};

START_TEST(test_agg_bad)
{
    const struct agg_bad *c = &aggs_bad[_i];
    pl_config cfg;
    pl_errbuf eb = {{0}};
    char quoted[128];
    pl_config_init(&cfg);
    ck_assert_int_eq(pl_config_add_agg(&cfg, c->arg, &eb), PL_EUSAGE);
    ck_assert_int_eq(cfg.naggs, 0); /* nothing appended on failure */
    snprintf(quoted, sizeof quoted, "--agg '%s': ", c->arg);
    ck_assert_msg(strncmp(eb.msg, quoted, strlen(quoted)) == 0, "'%s': message '%s'", c->arg,
                  eb.msg);
    ck_assert_msg(strstr(eb.msg, c->why) != NULL, "'%s': message '%s' lacks '%s'", c->arg,
                  eb.msg, c->why);
}
END_TEST

START_TEST(test_agg_message_exact)
{
    pl_config cfg;
    pl_errbuf eb = {{0}};
    const char *want = "--agg '5m=tumbling:5x': unknown duration unit 'x'";
    pl_config_init(&cfg);
    ck_assert_int_eq(pl_config_add_agg(&cfg, "5m=tumbling:5x", &eb), PL_EUSAGE);
    ck_assert_msg(strncmp(eb.msg, want, strlen(want)) == 0, "message '%s'", eb.msg);
}
END_TEST

START_TEST(test_agg_duplicates_and_limit)
{
    pl_config cfg;
    pl_errbuf eb = {{0}};
    char arg[64];
    pl_config_init(&cfg);
    ck_assert_int_eq(pl_config_add_agg(&cfg, "a=ticks:1", &eb), 0);
    ck_assert_int_eq(pl_config_add_agg(&cfg, "a=tumbling:1m", &eb), PL_EUSAGE);
    ck_assert_msg(strstr(eb.msg, "duplicate aggregation name 'a'") != NULL, "%s", eb.msg);
    ck_assert_int_eq(cfg.naggs, 1);
    /* names are case-sensitive: A is another aggregation */
    ck_assert_int_eq(pl_config_add_agg(&cfg, "A=ticks:1", &eb), 0);
    for (int i = 2; i < PL_MAX_AGGS; i++) {
        snprintf(arg, sizeof arg, "n%d=volume:%d", i, i);
        ck_assert_int_eq(pl_config_add_agg(&cfg, arg, &eb), 0);
    }
    ck_assert_int_eq(cfg.naggs, PL_MAX_AGGS);
    ck_assert_int_eq(pl_config_add_agg(&cfg, "last=ticks:1", &eb), PL_EUSAGE);
    ck_assert_msg(strstr(eb.msg, "too many aggregations") != NULL, "%s", eb.msg);
    ck_assert_int_eq(cfg.naggs, PL_MAX_AGGS);
    /* order kept as given */
    ck_assert_str_eq(cfg.aggs[0].name, "a");
    ck_assert_str_eq(cfg.aggs[1].name, "A");
    ck_assert_str_eq(cfg.aggs[15].name, "n15");
    ck_assert_int_eq(cfg.aggs[15].threshold, 15);
}
END_TEST

START_TEST(test_init_finish)
{
    pl_config cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    pl_config_init(&cfg);
    ck_assert_int_eq(cfg.max_delay, PL_DEFAULT_MAX_DELAY);
    ck_assert_int_eq(cfg.idle_timeout, PL_DEFAULT_IDLE_TIMEOUT);
    ck_assert_int_eq(cfg.naggs, 0);
    pl_config_finish(&cfg);
    ck_assert_int_eq(cfg.naggs, 1);
    ck_assert_str_eq(cfg.aggs[0].name, "1m");
    ck_assert_int_eq(cfg.aggs[0].kind, PL_AGG_TUMBLING);
    ck_assert_int_eq(cfg.aggs[0].size, 60000000000LL);
    ck_assert_int_eq(cfg.aggs[0].slide, 60000000000LL);
    /* idempotent, and nothing added when the user gave aggregations */
    pl_config_finish(&cfg);
    ck_assert_int_eq(cfg.naggs, 1);
    pl_config_init(&cfg);
    ck_assert_int_eq(pl_config_add_agg(&cfg, "k=ticks:3", NULL), 0);
    pl_config_finish(&cfg);
    ck_assert_int_eq(cfg.naggs, 1);
    ck_assert_str_eq(cfg.aggs[0].name, "k");
}
END_TEST

static void build(pl_config *cfg, int64_t b, int64_t i, const char *const *aggs)
{
    pl_config_init(cfg);
    cfg->max_delay = b;
    cfg->idle_timeout = i;
    for (; *aggs; aggs++)
        ck_assert_int_eq(pl_config_add_agg(cfg, *aggs, NULL), 0);
}

START_TEST(test_describe)
{
    static const char *const aggs[] = {"1m=tumbling:1m", "s=sliding:5m:1m", "k=ticks:100",
                                       "v=volume:5000", "d=dollar:250000", NULL};
    const char *want = "max_delay=1000000000 idle_timeout=0 agg=1m:tumbling:60000000000 "
                       "agg=s:sliding:300000000000:60000000000 agg=k:ticks:100 "
                       "agg=v:volume:5000 agg=d:dollar:250000";
    pl_config cfg;
    char buf[512], small[20];
    int n;
    build(&cfg, 1000000000, 0, aggs);
    n = pl_config_describe(&cfg, buf, sizeof buf);
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(n, (int)strlen(want));
    /* truncated: NUL-terminated prefix, full length returned */
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(pl_config_describe(&cfg, small, sizeof small), n);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert(strncmp(small, want, sizeof small - 1) == 0);
    ck_assert_int_eq(pl_config_describe(&cfg, NULL, 0), n);
}
END_TEST

START_TEST(test_fingerprint)
{
    static const char *const base[] = {"1m=tumbling:1m", "k=ticks:100", NULL};
    static const char *const variants[][3] = {
        {"1m=tumbling:2m", "k=ticks:100", NULL},
        {"1m=tumbling:1m", "k=ticks:101", NULL},
        {"1n=tumbling:1m", "k=ticks:100", NULL},
        {"1m=sliding:1m:1m", "k=ticks:100", NULL},
        {"1m=tumbling:1m", "k=volume:100", NULL},
        {"k=ticks:100", "1m=tumbling:1m", NULL},
        {"1m=tumbling:1m", NULL, NULL},
    };
    pl_config a, b;
    char buf[512];
    int n;
    uint64_t fa;

    build(&a, 5, 7, base);
    build(&b, 5, 7, base);
    fa = pl_config_fingerprint(&a);
    ck_assert_uint_eq(fa, pl_config_fingerprint(&b));
    n = pl_config_describe(&a, buf, sizeof buf);
    ck_assert_uint_eq(fa, XXH3_64bits(buf, (size_t)n));

    build(&b, 6, 7, base);
    ck_assert_uint_ne(fa, pl_config_fingerprint(&b));
    build(&b, 5, 8, base);
    ck_assert_uint_ne(fa, pl_config_fingerprint(&b));
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        build(&b, 5, 7, variants[v]);
        ck_assert_msg(pl_config_fingerprint(&b) != fa, "variant %zu collides", v);
    }
    /* the same durations written differently are the same configuration */
    pl_config_init(&b);
    b.max_delay = 5;
    b.idle_timeout = 7;
    ck_assert_int_eq(pl_config_add_agg(&b, "1m=tumbling:60s", NULL), 0);
    ck_assert_int_eq(pl_config_add_agg(&b, "k=ticks:0100", NULL), 0);
    ck_assert_uint_eq(fa, pl_config_fingerprint(&b));
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("duration");
    tcase_add_loop_test(tc, test_duration_ok, 0, (int)(sizeof durs_ok / sizeof durs_ok[0]));
    tcase_add_loop_test(tc, test_duration_bad, 0, (int)(sizeof durs_bad / sizeof durs_bad[0]));
    tcase_add_test(tc, test_duration_null_eb);
    suite_add_tcase(s, tc);

    tc = tcase_create("agg");
    tcase_add_loop_test(tc, test_agg_ok, 0, (int)(sizeof aggs_ok / sizeof aggs_ok[0]));
    tcase_add_loop_test(tc, test_agg_bad, 0, (int)(sizeof aggs_bad / sizeof aggs_bad[0]));
    tcase_add_test(tc, test_agg_message_exact);
    tcase_add_test(tc, test_agg_duplicates_and_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("describe");
    tcase_add_test(tc, test_init_finish);
    tcase_add_test(tc, test_describe);
    tcase_add_test(tc, test_fingerprint);
    suite_add_tcase(s, tc);
    return s;
}
