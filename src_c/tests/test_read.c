/*
 * test_read.c -- unit tests of the rating-file tokenizer and the id hash
 * table of cmf.h ("Reading rating files"). The expected values are written
 * out by hand from the lines given. Prints one line per failure and a
 * closing "N passed, N failed" line; exits non-zero when anything failed.
 */
#include "cmf.h"
#include "check.h"

#include <stdio.h>
#include <string.h>

#define CAP 8

/* Output arrays of CAP records and a format with the usual columns. */
typedef struct fixture {
    int64_t users[CAP], items[CAP], user_off[CAP], item_off[CAP], times[CAP];
    int32_t user_len[CAP], item_len[CAP];
    double ratings[CAP];
    float ratings32[CAP];
    cmf_read_columns out;
    cmf_read_format format;
    cmf_read_result result;
} fixture;

static void setup(fixture *f, const char *sep, int32_t time_col)
{
    memset(f, 0, sizeof *f);
    f->out.capacity = CAP;
    f->out.user_ids = f->users;
    f->out.item_ids = f->items;
    f->out.user_offsets = f->user_off;
    f->out.user_lengths = f->user_len;
    f->out.item_offsets = f->item_off;
    f->out.item_lengths = f->item_len;
    f->out.ratings_f64 = f->ratings;
    f->out.ratings_f32 = f->ratings32;
    f->out.timestamps = f->times;
    f->format.sep = sep;
    f->format.sep_len = (int32_t)strlen(sep);
    f->format.comment = "#";
    f->format.comment_len = 1;
    f->format.user_col = 0;
    f->format.item_col = 1;
    f->format.rating_col = 2;
    f->format.time_col = time_col;
}

static cmf_status run(fixture *f, const char *text)
{
    return cmf_read_lines(text, (int64_t)strlen(text), &f->format, &f->out, &f->result);
}

static void test_tab_lines_with_timestamps(void)
{
    fixture f;
    const char *text = "196\t242\t3\t881250949\n186\t302\t3.5\t891717742\n";
    setup(&f, "\t", 3);
    CHECK(run(&f, text) == CMF_OK);
    CHECK(f.result.n_records == 2 && f.result.n_lines == 2);
    CHECK(f.result.n_bytes == (int64_t)strlen(text));
    CHECK(f.users[0] == 196 && f.items[0] == 242 && f.ratings[0] == 3.0);
    CHECK(f.users[1] == 186 && f.items[1] == 302 && f.ratings[1] == 3.5);
    CHECK(f.ratings32[1] == 3.5f);
    CHECK(f.times[0] == 881250949 && f.times[1] == 891717742);
    CHECK(f.result.user_text == 0 && f.result.item_text == 0);
    /* offsets and lengths of the id fields */
    CHECK(f.user_off[1] == 20 && f.user_len[1] == 3);
    CHECK(f.item_off[1] == 24 && f.item_len[1] == 3);
}

static void test_two_byte_separator_crlf_blank_and_comment_lines(void)
{
    fixture f;
    setup(&f, "::", -1);
    CHECK(run(&f, "# header comment\r\n\r\n1::2::5\r\n  \n3 :: 4 :: 0.5e1\r\n") == CMF_OK);
    CHECK(f.result.n_records == 2 && f.result.n_lines == 5);
    CHECK(f.users[0] == 1 && f.items[0] == 2 && f.ratings[0] == 5.0);
    /* spaces around fields are stripped */
    CHECK(f.users[1] == 3 && f.items[1] == 4 && f.ratings[1] == 5.0);
    CHECK(f.item_len[1] == 1);
}

static void test_white_space_runs_and_last_line_without_newline(void)
{
    fixture f;
    setup(&f, "", -1);
    CHECK(run(&f, "  1 \t 2   4\n5 6 -1.25 extra fields") == CMF_OK);
    CHECK(f.result.n_records == 2 && f.result.n_lines == 2);
    CHECK(f.users[0] == 1 && f.items[0] == 2 && f.ratings[0] == 4.0);
    CHECK(f.users[1] == 5 && f.items[1] == 6 && f.ratings[1] == -1.25);
}

static void test_canonical_integers_only(void)
{
    fixture f;
    setup(&f, ",", -1);
    /* "007", "+7" and "-0" are labels, not numbers; "-7" and "0" are numbers */
    CHECK(run(&f, "-7,0,1\n") == CMF_OK);
    CHECK(f.users[0] == -7 && f.items[0] == 0 && f.result.user_text == 0 && f.result.item_text == 0);
    CHECK(run(&f, "007,1,1\n") == CMF_OK && f.result.user_text == 1 && f.result.item_text == 0);
    CHECK(run(&f, "+7,1,1\n") == CMF_OK && f.result.user_text == 1);
    CHECK(run(&f, "-0,1,1\n") == CMF_OK && f.result.user_text == 1);
    CHECK(run(&f, "1,ann,1\n") == CMF_OK && f.result.item_text == 1 && f.items[0] == 0);
    CHECK(f.item_off[0] == 2 && f.item_len[0] == 3);
    /* the largest int64 is a number, one more is text */
    CHECK(run(&f, "9223372036854775807,-9223372036854775808,1\n") == CMF_OK);
    CHECK(f.users[0] == INT64_MAX && f.items[0] == INT64_MIN && f.result.user_text == 0);
    CHECK(run(&f, "9223372036854775808,1,1\n") == CMF_OK && f.result.user_text == 1);
}

static void test_ratings_are_correctly_rounded(void)
{
    fixture f;
    setup(&f, ",", -1);
    CHECK(run(&f, "1,1,0.1\n1,1,4.0000000000000000001\n1,1,1e-5\n1,1,.5\n1,1,2.\n") == CMF_OK);
    CHECK(f.result.n_records == 5);
    CHECK(f.ratings[0] == 0.1);  /* the double nearest to 1/10 */
    CHECK(f.ratings[1] == 4.0);  /* more digits than the fast path takes */
    CHECK(f.ratings[2] == 1e-5);
    CHECK(f.ratings[3] == 0.5 && f.ratings[4] == 2.0);
}

static void test_errors_name_the_line(void)
{
    fixture f;
    const char *short_line = "1\t2\t3\n\n4\t5\n";
    setup(&f, "\t", -1);
    CHECK(run(&f, short_line) == CMF_ERR_PARSE);
    CHECK(f.result.error == CMF_READ_TOO_FEW_FIELDS && f.result.n_fields == 2);
    /* two lines before the bad one (a blank line counts), one record kept */
    CHECK(f.result.n_lines == 2 && f.result.n_records == 1 && f.result.n_bytes == 7);
    CHECK(run(&f, "1\t2\tfive\n") == CMF_ERR_PARSE && f.result.error == CMF_READ_BAD_RATING);
    CHECK(f.result.n_lines == 0);
    CHECK(run(&f, "1\t2\tnan\n") == CMF_ERR_PARSE && f.result.error == CMF_READ_BAD_RATING);
    CHECK(run(&f, "1\t2\t1e999\n") == CMF_ERR_PARSE && f.result.error == CMF_READ_BAD_RATING);
    CHECK(run(&f, "1\t2\t3 4\n") == CMF_ERR_PARSE && f.result.error == CMF_READ_BAD_RATING);
    CHECK(run(&f, "\t2\t3\n") == CMF_ERR_PARSE && f.result.error == CMF_READ_EMPTY_ID);
    f.format.time_col = 3;
    CHECK(run(&f, "1\t2\t3\t12:00\n") == CMF_ERR_PARSE && f.result.error == CMF_READ_BAD_TIMESTAMP);
}

static void test_full_output_stops_at_a_line_start(void)
{
    fixture f;
    char text[CAP * 8 + 16];
    int j;
    text[0] = '\0';
    for (j = 0; j < CAP + 2; ++j)
        strcat(text, "1 2 3\n");
    setup(&f, " ", -1);
    CHECK(run(&f, text) == CMF_OK);
    CHECK(f.result.n_records == CAP && f.result.n_lines == CAP);
    CHECK(f.result.n_bytes == CAP * 6);
}

static void test_pairs_without_a_rating_column(void)
{
    fixture f;
    setup(&f, "\t", -1);
    f.format.rating_col = -1;
    f.out.ratings_f64 = NULL;
    f.out.ratings_f32 = NULL;
    CHECK(run(&f, "5\t6\n") == CMF_OK && f.result.n_records == 1 && f.users[0] == 5);
}

static void test_bad_arguments(void)
{
    fixture f;
    setup(&f, "\t", -1);
    CHECK(cmf_read_lines("1\t1\t1", 5, &f.format, &f.out, NULL) == CMF_ERR_NULL_POINTER);
    f.format.sep_len = 3;
    CHECK(run(&f, "") == CMF_ERR_INVALID_PARAMETER);
    setup(&f, "\t", -1);
    f.format.item_col = -1;
    CHECK(run(&f, "") == CMF_ERR_INVALID_PARAMETER);
    setup(&f, "\t", 3);
    f.out.timestamps = NULL;
    CHECK(run(&f, "") == CMF_ERR_NULL_POINTER);
    CHECK(strcmp(cmf_strerror(CMF_ERR_PARSE), "a line of the text could not be read") == 0);
}

static void test_gather(void)
{
    const char *text = "ann,x\nbo,yy\n";
    const int64_t offsets[2] = {0, 6};
    const int32_t lengths[2] = {3, 2};
    char dest[8];
    CHECK(cmf_read_gather(text, offsets, lengths, 2, 4, dest) == CMF_OK);
    CHECK(memcmp(dest, "ann\0bo\0\0", 8) == 0);
    CHECK(cmf_read_gather(text, offsets, lengths, 2, 2, dest) == CMF_ERR_INVALID_PARAMETER);
}

static void test_factorize_first_seen_order_and_regrow(void)
{
    int32_t slots[4], big[8], codes[6];
    int64_t distinct[2], distinct_big[4];
    const int64_t ids[6] = {42, -1, 42, 7, -1, 9};
    int64_t done = -1;
    cmf_id_table table;
    memset(slots, 0xff, sizeof slots); /* every slot -1 */
    table.capacity = 4;
    table.slots = slots;
    table.distinct = distinct;
    table.n_distinct = 0;
    CHECK(cmf_factorize_i64(ids, 6, &table, codes, &done) == CMF_OK);
    /* room for 2 distinct ids: stops before 7 */
    CHECK(done == 3 && table.n_distinct == 2);
    CHECK(codes[0] == 0 && codes[1] == 1 && codes[2] == 0);
    /* a table twice as large, seeded with the distinct ids in code order */
    memset(big, 0xff, sizeof big);
    table.capacity = 8;
    table.slots = big;
    table.distinct = distinct_big;
    table.n_distinct = 0;
    CHECK(cmf_factorize_i64(distinct, 2, &table, codes, &done) == CMF_OK);
    CHECK(done == 2 && codes[0] == 0 && codes[1] == 1);
    CHECK(cmf_factorize_i64(ids + 3, 3, &table, codes, &done) == CMF_OK);
    CHECK(done == 3 && codes[0] == 2 && codes[1] == 1 && codes[2] == 3);
    CHECK(distinct_big[2] == 7 && distinct_big[3] == 9 && table.n_distinct == 4);
    table.capacity = 6;
    CHECK(cmf_factorize_i64(ids, 1, &table, codes, &done) == CMF_ERR_INVALID_PARAMETER);
}

int main(void)
{
    test_tab_lines_with_timestamps();
    test_two_byte_separator_crlf_blank_and_comment_lines();
    test_white_space_runs_and_last_line_without_newline();
    test_canonical_integers_only();
    test_ratings_are_correctly_rounded();
    test_errors_name_the_line();
    test_full_output_stops_at_a_line_start();
    test_pairs_without_a_rating_column();
    test_bad_arguments();
    test_gather();
    test_factorize_first_seen_order_and_regrow();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
