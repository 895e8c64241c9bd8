/*
 * test_fpool.c - Check suite for the forked worker pool (harness/fpool.c):
 * every task runs once, in a process of its own, no more than the workers
 * at once, and its result comes back whole; a schedule that waits sees the
 * results it waits for first; a worker that dies, a done callback that
 * fails and a stop request end the pool with every worker waited for.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hn_fpool.h"

#define NTASK 12

typedef struct res {
    int task;
    pid_t pid;
    long sq;
    char pad[9000]; /* more than a pipe's atomic write: read in pieces */
} res;

typedef struct tctx {
    int next, running, max_running, ndone;
    int seen[NTASK];
    pid_t pid[NTASK];
    int wait_first;            /* task 1 may start only once task 0 is done */
    int die;                   /* this task's worker dies, or -1 */
    int fail_at;               /* done fails at this many results, or 0 */
    volatile sig_atomic_t stop;
    int stop_at;               /* stop is set at this many results, or 0 */
    int started1_before_done0;
} tctx;

static int t_next(void *c)
{
    tctx *t = c;
    if (t->next == NTASK)
        return HN_FPOOL_DONE;
    if (t->wait_first && t->next == 1 && !t->seen[0])
        return HN_FPOOL_WAIT;
    if (t->next == 1 && !t->seen[0])
        t->started1_before_done0 = 1;
    if (++t->running > t->max_running)
        t->max_running = t->running;
    return t->next++;
}

static void t_run(void *c, int task, void *out)
{
    tctx *t = c;
    res *r = out;
    if (task == t->die)
        _exit(9);
    if (task == 0)
        usleep(100000); /* the others pass it */
    r->task = task;
    r->pid = getpid();
    r->sq = (long)task * task;
    memset(r->pad, 'x', sizeof r->pad);
}

static int t_done(void *c, int task, const void *out)
{
    tctx *t = c;
    const res *r = out;
    t->running--;
    ck_assert_int_eq(r->task, task);
    ck_assert_int_eq(r->sq, (long)task * task);
    ck_assert(r->pad[0] == 'x' && r->pad[sizeof r->pad - 1] == 'x');
    ck_assert_int_ne(r->pid, getpid());
    t->seen[task]++;
    t->pid[task] = r->pid;
    t->ndone++;
    if (t->stop_at && t->ndone == t->stop_at)
        t->stop = 1;
    return t->fail_at && t->ndone == t->fail_at ? -ECANCELED : 0;
}

static hn_fpool pool(tctx *t, int workers)
{
    hn_fpool p;
    memset(&p, 0, sizeof p);
    p.workers = workers;
    p.res_size = sizeof(res);
    p.ctx = t;
    p.next = t_next;
    p.run = t_run;
    p.done = t_done;
    p.stop = &t->stop;
    return p;
}

/* The pool with SIGTERM at its default: the test runner's own handler
 * (which signals its whole process group) is not the workers' to inherit;
 * the pool's SIGTERM is to end them. */
static int run_pool(const hn_fpool *p, pl_errbuf *eb)
{
    struct sigaction dfl, old;
    int ret;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &dfl, &old);
    ret = hn_fpool_run(p, eb);
    sigaction(SIGTERM, &old, NULL);
    return ret;
}

static void init(tctx *t)
{
    memset(t, 0, sizeof *t);
    t->die = -1;
}

/* no child of this process is left, running or unreaped */
static void no_children(void)
{
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

START_TEST(every_task_once)
{
    tctx t;
    hn_fpool p;
    pl_errbuf eb = {{0}};
    init(&t);
    p = pool(&t, 3);
    ck_assert_int_eq(run_pool(&p, &eb), 0);
    ck_assert_int_eq(t.ndone, NTASK);
    for (int i = 0; i < NTASK; i++) {
        ck_assert_int_eq(t.seen[i], 1);
        for (int k = 0; k < i; k++)
            ck_assert_int_ne(t.pid[i], t.pid[k]);
    }
    ck_assert_int_eq(t.max_running, 3);
    /* task 0 sleeps: others started beside it and finished first */
    ck_assert_int_eq(t.started1_before_done0, 1);
    no_children();
}
END_TEST

START_TEST(wait_for_a_result)
{
    tctx t;
    hn_fpool p;
    pl_errbuf eb = {{0}};
    init(&t);
    t.wait_first = 1;
    p = pool(&t, 4);
    ck_assert_int_eq(run_pool(&p, &eb), 0);
    ck_assert_int_eq(t.ndone, NTASK);
    ck_assert_int_eq(t.started1_before_done0, 0);
    ck_assert_int_eq(t.max_running, 4);
    no_children();
}
END_TEST

START_TEST(one_worker)
{
    tctx t;
    hn_fpool p;
    pl_errbuf eb = {{0}};
    init(&t);
    p = pool(&t, 1);
    ck_assert_int_eq(run_pool(&p, &eb), 0);
    ck_assert_int_eq(t.ndone, NTASK);
    ck_assert_int_eq(t.max_running, 1);
    ck_assert_int_eq(t.started1_before_done0, 0);
    no_children();
}
END_TEST

START_TEST(a_worker_dies)
{
    tctx t;
    hn_fpool p;
    pl_errbuf eb = {{0}};
    init(&t);
    t.die = 5;
    p = pool(&t, 2);
    ck_assert_int_eq(run_pool(&p, &eb), PL_EIO);
    ck_assert_msg(strstr(eb.msg, "task 5") != NULL, "%s", eb.msg);
    ck_assert_int_eq(t.seen[5], 0);
    ck_assert_int_lt(t.ndone, NTASK);
    no_children();
}
END_TEST

START_TEST(done_fails_and_stop)
{
    tctx t;
    hn_fpool p;
    pl_errbuf eb = {{0}};
    init(&t);
    t.fail_at = 3;
    p = pool(&t, 2);
    ck_assert_int_eq(run_pool(&p, &eb), -ECANCELED);
    ck_assert_int_eq(t.ndone, 3);
    no_children();
    init(&t);
    t.stop_at = 2;
    p = pool(&t, 2);
    ck_assert_int_eq(run_pool(&p, &eb), -EINTR);
    ck_assert_int_lt(t.ndone, NTASK);
    no_children();
}
END_TEST

Suite *fpool_suite(void)
{
    Suite *s = suite_create("fpool");
    TCase *tc = tcase_create("fpool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_task_once);
    tcase_add_test(tc, wait_for_a_result);
    tcase_add_test(tc, one_worker);
    tcase_add_test(tc, a_worker_dies);
    tcase_add_test(tc, done_fails_and_stop);
    suite_add_tcase(s, tc);
    return s;
}
