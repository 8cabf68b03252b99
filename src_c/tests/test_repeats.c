/*
 * test_repeats.c -- unit tests of cmf_find_repeats (cmf.h).
 *
 * The small cases are worked out by hand (see each comment); the random
 * cases are checked against a direct quadratic search for earlier and
 * later entries with the same pair. Prints one line per failure and a
 * closing "N passed, N failed" line; exits non-zero when anything failed.
 */
#include "cmf.h"

#include <stdio.h>

static int passed = 0;
static int failed = 0;

#define EXPECT(cond)                                                    \
    do {                                                                \
        if (cond) {                                                     \
            ++passed;                                                   \
        } else {                                                        \
            ++failed;                                                   \
            printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                               \
    } while (0)

#define MAX_N 600
#define MAX_WORK (3 * MAX_N + 1)

static int64_t work[MAX_WORK];
static int64_t first[MAX_N];
static int64_t last[MAX_N];
static const int64_t zeros64[5] = {0, 0, 0, 0, 0};

static int same(const int64_t *got, const int64_t *expected, int n)
{
    int i;
    for (i = 0; i < n; ++i) {
        if (got[i] != expected[i])
            return 0;
    }
    return 1;
}

static void fill(int64_t *a, int n, int64_t value)
{
    int i;
    for (i = 0; i < n; ++i)
        a[i] = value;
}

/* A case worked out by hand: the entries, the shape and the answers. */
typedef struct hand_case {
    const int32_t *rows, *cols;
    int n;
    int32_t n_rows, n_cols;
    const int64_t *first, *last;
    int64_t count;
} hand_case;

/* Check a case with both outputs, with none, and with last alone (it is
 * computed without first). */
static void expect_case(const hand_case *c)
{
    int64_t count = -1;
    EXPECT(cmf_find_repeats(c->rows, c->cols, c->n, c->n_rows, c->n_cols,
                            work, first, last, &count) == CMF_OK);
    EXPECT(count == c->count);
    EXPECT(same(first, c->first, c->n) && same(last, c->last, c->n));
    fill(first, c->n, -7);
    fill(last, c->n, -7);
    count = -1;
    EXPECT(cmf_find_repeats(c->rows, c->cols, c->n, c->n_rows, c->n_cols,
                            work, NULL, NULL, &count) == CMF_OK);
    EXPECT(count == c->count && first[0] == -7 && last[0] == -7);
    count = -1;
    EXPECT(cmf_find_repeats(c->rows, c->cols, c->n, c->n_rows, c->n_cols,
                            work, NULL, last, &count) == CMF_OK);
    EXPECT(count == c->count && same(last, c->last, c->n) && first[0] == -7);
}

/*
 * Rows out of order, so the counting sort runs:
 *   position  0      1      2      3      4      5      6      7
 *   (r, c)  (1,2)  (0,0)  (1,2)  (0,1)  (0,0)  (1,2)  (2,0)  (0,1)
 * (1,2) is at 0, 2, 5; (0,0) at 1, 4; (0,1) at 3, 7; (2,0) once. Row 3
 * is empty. Column 0 in rows 0 and 2 is no repeat.
 */
static void test_unsorted_rows(void)
{
    static const int32_t rows[8] = {1, 0, 1, 0, 0, 1, 2, 0};
    static const int32_t cols[8] = {2, 0, 2, 1, 0, 2, 0, 1};
    static const int64_t want_first[8] = {0, 1, 0, 3, 1, 0, 6, 3};
    static const int64_t want_last[8] = {5, 4, 5, 7, 4, 5, 6, 7};
    const hand_case c = {rows, cols, 8, 4, 3, want_first, want_last, 4};
    expect_case(&c);
}

/*
 * Rows already in order (the pass without the sort):
 *   position  0      1      2      3      4      5
 *   (r, c)  (0,1)  (0,0)  (0,1)  (1,2)  (1,2)  (2,1)
 * (0,1) at 0, 2; (1,2) at 3, 4; column 1 in row 2 is no repeat.
 */
static void test_sorted_rows(void)
{
    static const int32_t rows[6] = {0, 0, 0, 1, 1, 2};
    static const int32_t cols[6] = {1, 0, 1, 2, 2, 1};
    static const int64_t want_first[6] = {0, 1, 0, 3, 3, 5};
    static const int64_t want_last[6] = {2, 1, 2, 4, 4, 5};
    const hand_case c = {rows, cols, 6, 3, 3, want_first, want_last, 2};
    expect_case(&c);
}

/* One entry, and one pair given five times. */
static void test_small(void)
{
    static const int32_t zeros[5] = {0, 0, 0, 0, 0};
    static const int64_t want_last[5] = {4, 4, 4, 4, 4};
    const hand_case one = {zeros, zeros, 1, 1, 1, zeros64, zeros64, 0};
    const hand_case five = {zeros, zeros, 5, 1, 1, zeros64, want_last, 4};
    expect_case(&one);
    expect_case(&five);
}

/* No entries: nothing is read; the arrays may be NULL. */
static void test_empty(void)
{
    int64_t count = -1;
    EXPECT(cmf_find_repeats(NULL, NULL, 0, 0, 0, NULL, NULL, NULL, &count)
           == CMF_OK);
    EXPECT(count == 0);
    count = -1;
    EXPECT(cmf_find_repeats(NULL, NULL, 0, 5, 5, NULL, NULL, NULL, &count)
           == CMF_OK);
    EXPECT(count == 0);
}

/* Bad arguments give their status and leave the outputs as they were. */
static void test_errors(void)
{
    static const int32_t in[3] = {0, 1, 1};
    static const int32_t negative[3] = {0, -1, 0};
    struct bad_case {
        const int32_t *rows, *cols;
        int64_t n;
        int32_t n_rows, n_cols;
        int64_t *work;
        cmf_status status;
    } cases[] = {
        {NULL, in, 3, 2, 2, work, CMF_ERR_NULL_POINTER},
        {in, NULL, 3, 2, 2, work, CMF_ERR_NULL_POINTER},
        {in, in, 3, 2, 2, NULL, CMF_ERR_NULL_POINTER},
        {in, in, -1, 2, 2, work, CMF_ERR_INVALID_PARAMETER},
        {in, in, 3, -1, 2, work, CMF_ERR_INVALID_PARAMETER},
        {in, in, 3, 2, -1, work, CMF_ERR_INVALID_PARAMETER},
        {in, in, 3, 1, 2, work, CMF_ERR_INDEX_OUT_OF_RANGE}, /* row 1 of 1 */
        {in, in, 3, 2, 1, work, CMF_ERR_INDEX_OUT_OF_RANGE}, /* column 1 of 1 */
        {negative, in, 3, 2, 2, work, CMF_ERR_INDEX_OUT_OF_RANGE},
        {in, negative, 3, 2, 2, work, CMF_ERR_INDEX_OUT_OF_RANGE},
    };
    size_t i;
    int64_t count = -7;
    EXPECT(cmf_find_repeats(in, in, 3, 2, 2, work, NULL, NULL, NULL)
           == CMF_ERR_NULL_POINTER);
    fill(first, 3, -7);
    fill(last, 3, -7);
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const struct bad_case *c = &cases[i];
        const cmf_status got = cmf_find_repeats(c->rows, c->cols, c->n,
                                                c->n_rows, c->n_cols, c->work,
                                                first, last, &count);
        if (got != c->status)
            printf("case %d: status %d, expected %d\n", (int)i, (int)got,
                   (int)c->status);
        EXPECT(got == c->status);
    }
    EXPECT(count == -7 && first[0] == -7 && first[2] == -7 && last[1] == -7);
}

/* A small linear congruential generator: the same cases everywhere. */
static uint32_t next_(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

/* Random entries against the quadratic search, in both passes (rows
 * shuffled and rows sorted), for shapes with many and with few repeats. */
static void test_random_against_search(void)
{
    static const int32_t shapes[4][2] = {{7, 5}, {1, 40}, {40, 1}, {300, 200}};
    static int32_t rows[MAX_N], cols[MAX_N];
    uint32_t state = 12345u;
    int s, sorted, n = MAX_N;
    for (s = 0; s < 4; ++s) {
        for (sorted = 0; sorted < 2; ++sorted) {
            int p, q, ok_first = 1, ok_last = 1;
            int64_t count = -1, want_count = 0;
            for (p = 0; p < n; ++p) {
                rows[p] = (int32_t)(next_(&state) % (uint32_t)shapes[s][0]);
                cols[p] = (int32_t)(next_(&state) % (uint32_t)shapes[s][1]);
                if (sorted)
                    rows[p] = (int32_t)((int64_t)p * shapes[s][0] / n);
            }
            EXPECT(cmf_find_repeats(rows, cols, n, shapes[s][0], shapes[s][1],
                                    work, first, last, &count) == CMF_OK);
            for (p = 0; p < n; ++p) {
                int64_t f = p, l = p;
                for (q = 0; q < n; ++q) {
                    if (rows[q] == rows[p] && cols[q] == cols[p]) {
                        if (q < f)
                            f = q;
                        l = q;
                    }
                }
                want_count += f != p;
                ok_first &= first[p] == f;
                ok_last &= last[p] == l;
            }
            EXPECT(count == want_count);
            count = -1; /* the count alone takes another path */
            EXPECT(cmf_find_repeats(rows, cols, n, shapes[s][0], shapes[s][1],
                                    work, NULL, NULL, &count) == CMF_OK);
            EXPECT(count == want_count);
            EXPECT(ok_first);
            EXPECT(ok_last);
        }
    }
}

int main(void)
{
    test_unsorted_rows();
    test_sorted_rows();
    test_small();
    test_empty();
    test_errors();
    test_random_against_search();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
