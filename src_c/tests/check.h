/*
 * check.h -- the counting assertion of the C unit tests: CHECK(cond)
 * prints a line for a failure and counts passes and failures, which each
 * test program reports in its closing "N passed, N failed" line.
 */
#ifndef CMF_TESTS_CHECK_H
#define CMF_TESTS_CHECK_H

#include <stdio.h>

static int n_passed = 0;
static int n_failed = 0;

static void check_(int ok, const char *what, const char *file, int line)
{
    if (ok) {
        ++n_passed;
    } else {
        ++n_failed;
        printf("FAILED %s:%d: %s\n", file, line, what);
    }
}

#define CHECK(cond) check_((cond) != 0, #cond, __FILE__, __LINE__)

#endif /* CMF_TESTS_CHECK_H */
