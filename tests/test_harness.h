/* test_harness.h - the few lines every C test program shares: each test
 * makes expectations and then reports "ok - NAME" or "not ok - NAME: why"
 * (the first failed expectation), the lines tests/run_tests.sh counts. */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static char failure[1024];  /* the first failed expectation of the current test */
static int n_failed;        /* tests reported as failed so far */

static void expect(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void expect(bool ok, const char *fmt, ...)
{
    if (ok || failure[0])
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(failure, sizeof failure, fmt, args);
    va_end(args);
}

static void report(const char *name)
{
    if (failure[0]) {
        printf("not ok - %s: %s\n", name, failure);
        n_failed++;
    } else {
        printf("ok - %s\n", name);
    }
    failure[0] = '\0';
    fflush(stdout);
}

#endif
