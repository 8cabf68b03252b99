/*
 * cmf_partition_per_isa.h -- the two loops of the partition
 * (cmf_partition_weighted_* in cmf_blocks_per_precision.h) that compute
 * something per entry: each entry's block, and its row and column inside
 * the block. Written once, compiled for each instruction set.
 *
 * Not a public header and has no include guard on purpose:
 * cmf_blocks_per_precision.h instantiates it through cmf_isas.h once per
 * (precision, instruction set), with the template parameters of
 * cmf_template.h defined (the loops do not depend on the precision; they
 * are instantiated with the rest of it). The partition calls them on
 * chunks of CMF_PARTITION_CHUNK entries, and keeps the counting and the
 * scattering, which no vector unit does, in plain loops.
 *
 * Why: in scalar loops the partition took about 4.5 ns an entry (W1:
 * 80,000 entries, 32 blocks), bound by the 64-bit multiplications (three
 * an entry to count, five to scatter). Here the divisions are the
 * multiply-shifts of cmf_divider_ (cmf_blocks.c), whose multipliers are
 * below 2^32: a 32 x 32 -> 64-bit product, which vector units have
 * (pmuludq, umull), in loops without a branch that gcc and clang
 * vectorise. Integer arithmetic only: every variant gives the same bits.
 */
#if !defined(CMF_REAL) || !defined(CMF_REAL_BYTES) || !defined(CMF_SUFFIX) || \
    !defined(CMF_ISA) || !defined(CMF_TARGET) || !defined(CMF_VEC_BYTES)
#  error "define the template parameters of cmf_template.h first"
#endif

#include <stddef.h>
#include <stdint.h>

#include "cmf_compiler.h"
#include "cmf_template.h"

/* Each of n entries' block into blk; nonzero when an entry lies outside
 * the shape (whose blk is then meaningless). */
CMF_TARGET static uint32_t CMF_TV(partition_blocks_)(
    const cmf_partition_grid_ *grid, const int32_t *CMF_RESTRICT rows,
    const int32_t *CMF_RESTRICT cols, size_t n, uint32_t *CMF_RESTRICT blk)
{
    /* Copied to locals: otherwise the stores to blk might change them, as
     * far as the compiler can tell, and it would not vectorise. */
    const uint32_t n_rows = grid->n_rows, n_cols = grid->n_cols;
    const uint32_t row_mult = grid->row_mult, col_mult = grid->col_mult;
    const int row_shift = grid->row_shift, col_shift = grid->col_shift;
    const uint32_t n_col_blocks = grid->n_col_blocks;
    uint32_t outside = 0;
    size_t l;
    for (l = 0; l < n; ++l) {
        const uint32_t u = (uint32_t)rows[l], i = (uint32_t)cols[l];
        /* A negative index is at least 2^31 here, beyond any shape. */
        outside |= (uint32_t)(u >= n_rows) | (uint32_t)(i >= n_cols);
        blk[l] = cmf_divide_(u, row_mult, row_shift) * n_col_blocks + cmf_divide_(i, col_mult, col_shift);
    }
    return outside;
}

/* Each of n entries (all inside the shape) block into blk, and its row and
 * column inside the block into local_rows and local_cols. */
CMF_TARGET static void CMF_TV(partition_locals_)(
    const cmf_partition_grid_ *grid, const int32_t *CMF_RESTRICT rows,
    const int32_t *CMF_RESTRICT cols, size_t n, uint32_t *CMF_RESTRICT blk,
    uint16_t *CMF_RESTRICT local_rows, uint16_t *CMF_RESTRICT local_cols)
{
    const uint32_t row_mult = grid->row_mult, col_mult = grid->col_mult;
    const int row_shift = grid->row_shift, col_shift = grid->col_shift;
    const uint32_t n_col_blocks = grid->n_col_blocks;
    const uint32_t row_size = grid->row_block_size, col_size = grid->col_block_size;
    size_t l;
    for (l = 0; l < n; ++l) {
        const uint32_t u = (uint32_t)rows[l], i = (uint32_t)cols[l];
        const uint32_t row_block = cmf_divide_(u, row_mult, row_shift);
        const uint32_t col_block = cmf_divide_(i, col_mult, col_shift);
        blk[l] = row_block * n_col_blocks + col_block;
        local_rows[l] = (uint16_t)(u - row_block * row_size);
        local_cols[l] = (uint16_t)(i - col_block * col_size);
    }
}
