/*
 * reference_epoch.c -- the plain C SGD epoch that BENCHMARKS.md quotes "for
 * scale", to measure what a machine does with it.
 *
 * One thread, float32, biased model, k = REF_K, the textbook update written
 * as a compiler sees it first (no intrinsics, no prefetch, no grouping),
 * over the same ratings in four or five orders:
 *
 *   stored order        as given (the W2 set is in random order)
 *   grouped by row      a stable counting sort by row
 *   80x80, 40x40 grid   a stable counting sort by block of a g x h grid
 *   custom grid         the same for the grid given on the command line
 *                       (calibrate.py passes the one cmf picks here)
 *
 * Blocks are visited row-major and the entries of a block in stored order:
 * cheaper than cmf's random orders, so this is a floor for the layout, not
 * a rival implementation. Built by benchmarks/calibrate.py, with the
 * fastest flags a user could pick (-O3 -march=native -ffast-math).
 *
 * Usage: reference_epoch N N_ROWS N_COLS DIR [EPOCHS [G H]]
 *   DIR holds rows.bin, cols.bin (int32) and vals.bin (float32), N each.
 * Prints one line per order: its best epoch in ns per update.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef REF_K
#  define REF_K 64
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *read_file(const char *dir, const char *name, size_t bytes)
{
    char path[4096];
    FILE *f;
    void *buffer = malloc(bytes > 0 ? bytes : 1);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (buffer == NULL || f == NULL || fread(buffer, 1, bytes, f) != bytes) {
        fprintf(stderr, "reference_epoch: cannot read %zu bytes from %s\n", bytes, path);
        exit(2);
    }
    fclose(f);
    return buffer;
}

static void *alloc(size_t bytes)
{
    void *p = calloc(bytes > 0 ? bytes : 1, 1);
    if (p == NULL) {
        fprintf(stderr, "reference_epoch: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

/* The textbook epoch; returns the sum of squared errors. */
static double epoch(int64_t n, const int32_t *r, const int32_t *c, const float *v,
                    float *P, float *Q, float *bu, float *bi, float mu, float lr,
                    float reg)
{
    double total = 0.0;
    int64_t t;
    int f;
    for (t = 0; t < n; ++t) {
        float *p = P + (size_t)r[t] * REF_K, *q = Q + (size_t)c[t] * REF_K;
        float dot = 0.0f, e;
        for (f = 0; f < REF_K; ++f)
            dot += p[f] * q[f];
        e = v[t] - (mu + bu[r[t]] + bi[c[t]] + dot);
        total += (double)e * e;
        bu[r[t]] += lr * (e - reg * bu[r[t]]);
        bi[c[t]] += lr * (e - reg * bi[c[t]]);
        for (f = 0; f < REF_K; ++f) {
            const float pf = p[f], qf = q[f];
            p[f] = pf + lr * (e * qf - reg * pf);
            q[f] = qf + lr * (e * pf - reg * qf);
        }
    }
    return total;
}

/* Stable counting sort of the entries by key[t] in [0, n_keys). */
static void sort_by(int64_t n, const int64_t *key, int64_t n_keys,
                    const int32_t *r, const int32_t *c, const float *v,
                    int32_t *r_out, int32_t *c_out, float *v_out)
{
    int64_t *start = alloc(((size_t)n_keys + 1) * sizeof *start);
    int64_t t, b;
    for (t = 0; t < n; ++t)
        start[key[t] + 1]++;
    for (b = 0; b < n_keys; ++b)
        start[b + 1] += start[b];
    for (t = 0; t < n; ++t) {
        const int64_t d = start[key[t]]++;
        r_out[d] = r[t];
        c_out[d] = c[t];
        v_out[d] = v[t];
    }
    free(start);
}

int main(int argc, char **argv)
{
    int64_t n, t;
    int32_t n_rows, n_cols, *rows, *cols, *rows2, *cols2;
    int64_t *key;
    float *vals, *vals2, *P, *Q, *bu, *bi;
    int epochs, grid_rows, grid_cols, mode, n_modes, e;
    uint64_t state = 42;
    char custom[64];
    const char *names[5] = {"stored order", "grouped by row", "80x80 grid of blocks",
                            "40x40 grid of blocks", custom};

    if (argc < 5) {
        fprintf(stderr, "usage: %s N N_ROWS N_COLS DIR [EPOCHS [G H]]\n", argv[0]);
        return 2;
    }
    n = atoll(argv[1]);
    n_rows = atoi(argv[2]);
    n_cols = atoi(argv[3]);
    epochs = argc > 5 ? atoi(argv[5]) : 3;
    grid_rows = argc > 7 ? atoi(argv[6]) : 0;
    grid_cols = argc > 7 ? atoi(argv[7]) : 0;
    if (n < 1 || n_rows < 1 || n_cols < 1 || epochs < 1 || grid_rows < 0 || grid_cols < 0) {
        fprintf(stderr, "reference_epoch: N, N_ROWS, N_COLS and EPOCHS must be positive\n");
        return 2;
    }
    snprintf(custom, sizeof custom, "%dx%d grid of blocks", grid_rows, grid_cols);
    n_modes = grid_rows > 0 && grid_cols > 0 ? 5 : 4;

    rows = read_file(argv[4], "rows.bin", (size_t)n * sizeof *rows);
    cols = read_file(argv[4], "cols.bin", (size_t)n * sizeof *cols);
    vals = read_file(argv[4], "vals.bin", (size_t)n * sizeof *vals);
    for (t = 0; t < n; ++t) {
        if (rows[t] < 0 || rows[t] >= n_rows || cols[t] < 0 || cols[t] >= n_cols) {
            fprintf(stderr, "reference_epoch: entry %lld is outside %d x %d\n",
                    (long long)t, n_rows, n_cols);
            return 2;
        }
    }
    P = alloc((size_t)n_rows * REF_K * sizeof *P);
    Q = alloc((size_t)n_cols * REF_K * sizeof *Q);
    bu = alloc((size_t)n_rows * sizeof *bu);
    bi = alloc((size_t)n_cols * sizeof *bi);
    rows2 = alloc((size_t)n * sizeof *rows2);
    cols2 = alloc((size_t)n * sizeof *cols2);
    vals2 = alloc((size_t)n * sizeof *vals2);
    key = alloc((size_t)n * sizeof *key);

    for (mode = 0; mode < n_modes; ++mode) {
        const int32_t *r = rows, *c = cols;
        const float *v = vals;
        double best = 1e300;
        size_t i;
        if (mode == 1) {
            for (t = 0; t < n; ++t)
                key[t] = rows[t];
            sort_by(n, key, n_rows, rows, cols, vals, rows2, cols2, vals2);
            r = rows2, c = cols2, v = vals2;
        } else if (mode >= 2) {
            const int64_t g = mode == 2 ? 80 : mode == 3 ? 40 : grid_rows;
            const int64_t h = mode == 2 ? 80 : mode == 3 ? 40 : grid_cols;
            const int64_t row_side = (n_rows + g - 1) / g, col_side = (n_cols + h - 1) / h;
            for (t = 0; t < n; ++t)
                key[t] = (rows[t] / row_side) * h + cols[t] / col_side;
            sort_by(n, key, g * h, rows, cols, vals, rows2, cols2, vals2);
            r = rows2, c = cols2, v = vals2;
        }
        /* The same small random start for every order (xorshift64). */
        for (i = 0; i < (size_t)n_rows * REF_K + (size_t)n_cols * REF_K; ++i) {
            float x;
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            x = 0.1f * ((float)(state >> 40) / 16777216.0f - 0.5f);
            if (i < (size_t)n_rows * REF_K)
                P[i] = x;
            else
                Q[i - (size_t)n_rows * REF_K] = x;
        }
        memset(bu, 0, (size_t)n_rows * sizeof *bu);
        memset(bi, 0, (size_t)n_cols * sizeof *bi);
        for (e = 0; e < epochs; ++e) {
            const double start = now();
            volatile double sse = epoch(n, r, c, v, P, Q, bu, bi, 3.5f, 0.005f, 0.02f);
            const double seconds = now() - start;
            (void)sse;
            if (seconds < best)
                best = seconds;
        }
        printf("%-22s %8.1f ns per update (best of %d epochs)\n", names[mode],
               best / (double)n * 1e9, epochs);
        fflush(stdout);
    }
    return 0;
}
