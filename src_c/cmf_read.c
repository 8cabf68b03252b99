/*
 * cmf_read.c -- the rating-file tokenizer and the id hash table of cmf.h
 * ("Reading rating files").
 *
 * One pass over the bytes of each line: the fields up to the last column
 * used are located, then the id, rating and timestamp fields are converted
 * in place. Nothing is allocated; a number that the exact fast path below
 * cannot convert is copied into a small stack buffer for strtod.
 */
#include "cmf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fields located on one line: start and end (exclusive) offsets. */
#define CMF_READ_MAX_COLUMNS 64

typedef struct field {
    int64_t start;
    int64_t end;
} field;

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static field strip(const char *buf, field f)
{
    while (f.start < f.end && (buf[f.start] == ' ' || buf[f.start] == '\t'))
        ++f.start;
    while (f.end > f.start && (buf[f.end - 1] == ' ' || buf[f.end - 1] == '\t'))
        --f.end;
    return f;
}

/*
 * Split [start, end) into at most `want` fields; returns how many were
 * found (fields past `want` are not looked for).
 */
static int32_t split(const char *buf, int64_t start, int64_t end,
                     const cmf_read_format *format, int32_t want, field *fields)
{
    int32_t n = 0;
    int64_t pos = start;
    if (format->sep_len == 0) {
        while (n < want) {
            while (pos < end && is_blank(buf[pos]))
                ++pos;
            if (pos >= end)
                break;
            fields[n].start = pos;
            while (pos < end && !is_blank(buf[pos]))
                ++pos;
            fields[n++].end = pos;
        }
        return n;
    }
    while (n < want) {
        int64_t stop = pos;
        if (format->sep_len == 1) {
            /* Fields are short: a plain loop beats a call of memchr. */
            const char sep = format->sep[0];
            while (stop < end && buf[stop] != sep)
                ++stop;
        } else {
            while (stop < end && !(buf[stop] == format->sep[0] && stop + 1 < end &&
                                   buf[stop + 1] == format->sep[1]))
                ++stop;
        }
        fields[n].start = pos;
        fields[n].end = stop;
        fields[n] = strip(buf, fields[n]);
        ++n;
        if (stop >= end)
            break;
        pos = stop + format->sep_len;
    }
    return n;
}

/* A canonical integer: -?(0|[1-9][0-9]*) within int64. */
static int parse_id(const char *s, int64_t len, int64_t *value)
{
    int64_t i = 0;
    int negative = 0;
    uint64_t v = 0;
    uint64_t limit;
    if (len > 0 && s[0] == '-') {
        negative = 1;
        i = 1;
    }
    if (i >= len || len - i > 19 || (s[i] == '0' && len - i > 1) ||
        (negative && s[i] == '0'))
        return 0;
    for (; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10u + (uint64_t)(s[i] - '0');
    }
    /* 19 digits fit in uint64 without wrapping. */
    limit = negative ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    if (v > limit)
        return 0;
    *value = negative ? (int64_t)(0u - v) : (int64_t)v;
    return 1;
}

/* [+-]digits within int64. */
static int parse_int(const char *s, int64_t len, int64_t *value)
{
    int64_t i = 0;
    int negative = 0;
    uint64_t v = 0;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        i = 1;
    }
    if (i >= len)
        return 0;
    for (; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9' || v > ((uint64_t)INT64_MAX + 1u) / 10u)
            return 0;
        v = v * 10u + (uint64_t)(s[i] - '0');
    }
    if (v > (negative ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX))
        return 0;
    *value = negative ? (int64_t)(0u - v) : (int64_t)v;
    return 1;
}

static const double powers_of_ten[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/*
 * A decimal number, correctly rounded. Up to 15 significant digits and a
 * decimal exponent within +-22, the mantissa and the power of ten are both
 * exact doubles, so one multiplication or division rounds correctly
 * (Clinger's fast path); anything else goes to strtod. Non-finite -> 0.
 */
static int parse_rating(const char *s, int64_t len, double *value)
{
    int64_t i = 0;
    int negative = 0;
    int n_digits = 0;   /* significant digits kept in mantissa */
    int any_digit = 0;
    int exp10 = 0;      /* value = mantissa * 10^exp10 */
    uint64_t mantissa = 0;
    double v;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        i = 1;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; ++i) {
        any_digit = 1;
        if (mantissa == 0 && s[i] == '0')
            continue;
        if (n_digits < 19) {
            mantissa = mantissa * 10u + (uint64_t)(s[i] - '0');
            ++n_digits;
        } else {
            ++exp10;
            n_digits = 99; /* too many digits for the fast path */
        }
    }
    if (i < len && s[i] == '.') {
        for (++i; i < len && s[i] >= '0' && s[i] <= '9'; ++i) {
            any_digit = 1;
            if (mantissa == 0 && s[i] == '0') {
                --exp10;
                continue;
            }
            if (n_digits < 19) {
                mantissa = mantissa * 10u + (uint64_t)(s[i] - '0');
                ++n_digits;
                --exp10;
            } else {
                n_digits = 99;
            }
        }
    }
    if (!any_digit)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int64_t e = 0;
        int e_negative = 0;
        ++i;
        if (i < len && (s[i] == '-' || s[i] == '+')) {
            e_negative = s[i] == '-';
            ++i;
        }
        if (i >= len)
            return 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; ++i)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        exp10 += (int)(e_negative ? -e : e);
    }
    if (i != len)
        return 0;
    if (n_digits <= 15 && exp10 >= -22 && exp10 <= 22) {
        v = (double)mantissa;
        v = exp10 < 0 ? v / powers_of_ten[-exp10] : v * powers_of_ten[exp10];
    } else {
        char text[128];
        if (len >= (int64_t)sizeof text)
            return 0;
        memcpy(text, s, (size_t)len);
        text[len] = '\0';
        v = fabs(strtod(text, NULL));
    }
    if (!(v - v == 0.0)) /* inf or nan */
        return 0;
    *value = negative ? -v : v;
    return 1;
}

static int is_comment(const char *buf, int64_t start, int64_t end,
                      const cmf_read_format *format)
{
    while (start < end && is_blank(buf[start]))
        ++start;
    if (start == end)
        return 1; /* a blank line */
    return format->comment_len > 0 && buf[start] == format->comment[0] &&
           end - start >= format->comment_len &&
           memcmp(buf + start, format->comment, (size_t)format->comment_len) == 0;
}

static cmf_status check_format(const cmf_read_format *format,
                               const cmf_read_columns *out)
{
    int32_t cols[4];
    int j;
    if (format->sep_len < 0 || format->sep_len > 2 || format->comment_len < 0 ||
        out->capacity < 1)
        return CMF_ERR_INVALID_PARAMETER;
    cols[0] = format->user_col;
    cols[1] = format->item_col;
    cols[2] = format->rating_col;
    cols[3] = format->time_col;
    for (j = 0; j < 4; ++j)
        if (cols[j] < (j < 2 ? 0 : -1) || cols[j] >= CMF_READ_MAX_COLUMNS)
            return CMF_ERR_INVALID_PARAMETER;
    if ((format->sep_len > 0 && format->sep == NULL) ||
        (format->comment_len > 0 && format->comment == NULL) ||
        out->user_ids == NULL || out->item_ids == NULL ||
        (format->rating_col >= 0 && out->ratings_f64 == NULL &&
         out->ratings_f32 == NULL) ||
        (format->time_col >= 0 && out->timestamps == NULL) ||
        ((out->user_offsets == NULL) != (out->user_lengths == NULL)) ||
        ((out->item_offsets == NULL) != (out->item_lengths == NULL)))
        return CMF_ERR_NULL_POINTER;
    return CMF_OK;
}

static int32_t max4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    int32_t m = a > b ? a : b;
    m = m > c ? m : c;
    return m > d ? m : d;
}

/* Convert one line's fields into record `r`; returns the error, if any. */
static cmf_read_error store(const char *buf, const field *fields,
                            const cmf_read_format *format,
                            const cmf_read_columns *out, int64_t r,
                            cmf_read_result *result)
{
    field user = fields[format->user_col];
    field item = fields[format->item_col];
    double value = 0.0;
    if (user.end == user.start || item.end == item.start)
        return CMF_READ_EMPTY_ID;
    if (format->rating_col >= 0) {
        field rating = fields[format->rating_col];
        if (!parse_rating(buf + rating.start, rating.end - rating.start, &value))
            return CMF_READ_BAD_RATING;
    }
    if (format->time_col >= 0) {
        field t = fields[format->time_col];
        if (!parse_int(buf + t.start, t.end - t.start, &out->timestamps[r]))
            return CMF_READ_BAD_TIMESTAMP;
    }
    if (!parse_id(buf + user.start, user.end - user.start, &out->user_ids[r])) {
        out->user_ids[r] = 0;
        result->user_text = 1;
    }
    if (!parse_id(buf + item.start, item.end - item.start, &out->item_ids[r])) {
        out->item_ids[r] = 0;
        result->item_text = 1;
    }
    if (out->user_offsets != NULL) {
        out->user_offsets[r] = user.start;
        out->user_lengths[r] = (int32_t)(user.end - user.start);
    }
    if (out->item_offsets != NULL) {
        out->item_offsets[r] = item.start;
        out->item_lengths[r] = (int32_t)(item.end - item.start);
    }
    if (format->rating_col >= 0 && out->ratings_f64 != NULL)
        out->ratings_f64[r] = value;
    if (format->rating_col >= 0 && out->ratings_f32 != NULL)
        out->ratings_f32[r] = (float)value;
    return CMF_READ_NO_ERROR;
}

cmf_status cmf_read_lines(const char *buf, int64_t len,
                          const cmf_read_format *format,
                          const cmf_read_columns *out, cmf_read_result *result)
{
    field fields[CMF_READ_MAX_COLUMNS];
    int64_t pos = 0;
    int32_t want;
    cmf_status status;
    if (result == NULL || format == NULL || out == NULL || (buf == NULL && len > 0))
        return CMF_ERR_NULL_POINTER;
    memset(result, 0, sizeof *result);
    if (len < 0)
        return CMF_ERR_INVALID_PARAMETER;
    status = check_format(format, out);
    if (status != CMF_OK)
        return status;
    want = max4(format->user_col, format->item_col, format->rating_col,
                format->time_col) + 1;
    while (pos < len && result->n_records < out->capacity) {
        const void *newline = memchr(buf + pos, '\n', (size_t)(len - pos));
        int64_t end = newline ? (int64_t)((const char *)newline - buf) : len;
        int64_t next = newline ? end + 1 : len;
        int64_t stop = end;
        if (stop > pos && buf[stop - 1] == '\r')
            --stop;
        if (!is_comment(buf, pos, stop, format)) {
            int32_t n = split(buf, pos, stop, format, want, fields);
            cmf_read_error error = CMF_READ_TOO_FEW_FIELDS;
            if (n >= want)
                error = store(buf, fields, format, out, result->n_records, result);
            if (error != CMF_READ_NO_ERROR) {
                result->error = error;
                result->n_fields = n;
                result->n_bytes = pos;
                return CMF_ERR_PARSE;
            }
            ++result->n_records;
        }
        ++result->n_lines;
        pos = next;
    }
    result->n_bytes = pos;
    return CMF_OK;
}

cmf_status cmf_read_gather(const char *buf, const int64_t *offsets,
                           const int32_t *lengths, int64_t n, int32_t width,
                           char *dest)
{
    int64_t j;
    if (n < 0 || width < 1)
        return CMF_ERR_INVALID_PARAMETER;
    if (n > 0 && (buf == NULL || offsets == NULL || lengths == NULL || dest == NULL))
        return CMF_ERR_NULL_POINTER;
    for (j = 0; j < n; ++j)
        if (lengths[j] < 0 || lengths[j] > width)
            return CMF_ERR_INVALID_PARAMETER;
    for (j = 0; j < n; ++j) {
        char *slot = dest + j * (int64_t)width;
        memcpy(slot, buf + offsets[j], (size_t)lengths[j]);
        memset(slot + lengths[j], 0, (size_t)(width - lengths[j]));
    }
    return CMF_OK;
}

/* Fibonacci hashing: the top bits of id * 2^64 / golden ratio. */
static uint64_t slot_of(int64_t id, int shift)
{
    return ((uint64_t)id * UINT64_C(0x9E3779B97F4A7C15)) >> shift;
}

cmf_status cmf_factorize_i64(const int64_t *ids, int64_t n, cmf_id_table *table,
                             int32_t *codes, int64_t *n_done)
{
    int64_t j;
    int64_t limit;
    uint64_t mask;
    int shift = 64;
    if (table == NULL || n_done == NULL)
        return CMF_ERR_NULL_POINTER;
    *n_done = 0;
    if (n < 0 || table->capacity < 2 || table->capacity > (INT64_C(1) << 32) ||
        (table->capacity & (table->capacity - 1)) != 0 ||
        table->n_distinct < 0 || table->n_distinct > table->capacity / 2)
        return CMF_ERR_INVALID_PARAMETER;
    if (n > 0 && (ids == NULL || codes == NULL || table->slots == NULL ||
                  table->distinct == NULL))
        return CMF_ERR_NULL_POINTER;
    for (j = table->capacity; j > 1; j >>= 1)
        --shift;
    mask = (uint64_t)table->capacity - 1u;
    limit = table->capacity / 2;
    for (j = 0; j < n; ++j) {
        int64_t id = ids[j];
        uint64_t s = slot_of(id, shift);
        int32_t code;
        while ((code = table->slots[s]) >= 0 && table->distinct[code] != id)
            s = (s + 1u) & mask;
        if (code < 0) {
            if (table->n_distinct == limit)
                break;
            code = (int32_t)table->n_distinct++;
            table->distinct[code] = id;
            table->slots[s] = code;
        }
        codes[j] = code;
    }
    *n_done = j;
    return CMF_OK;
}
