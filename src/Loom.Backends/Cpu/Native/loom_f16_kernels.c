// Loom's optional native F16 tile for AVX2 machines: F16C's vcvtph2ps, which .NET 10 does not expose, widens eight
// halves in one instruction where the managed kernels need integer arithmetic or an fp32 copy of the weights.
//
// It computes what the managed half-precision kernels compute (InterleavedHalfGemm.cs), lane for lane: every (row,
// token) output is acc = fma(w[k], x[k], acc) for k = 0, 1, ..., n − 1 from zero, the widening exact for every finite
// half, so the outputs are the same bits in every batch shape. Built with -ffp-contract=off beside
// loom_cpu_kernels.c; NativeCpuKernels.cs loads it where the CPU has AVX2, FMA and F16C.

#include <immintrin.h>
#include <stdint.h>

#define LOOM_EXPORT __attribute__((visibility("default")))
#define LOOM_F16_TARGET __attribute__((target("avx2,fma,f16c")))
#define LOOM_F16_INLINE static inline __attribute__((always_inline)) LOOM_F16_TARGET

/// Halves from one k to the next (InterleavedHalfWeights.KStride: eight groups of eight rows side by side).
#define K_STRIDE 64

/// Tokens per tile: 6 tokens × 2 groups are 12 accumulators, beside 2 weight vectors and a broadcast (16 ymm).
#define TILE_TOKENS 6

/// Lanes [first, last) of eight (first and last counted from the group's row 0): all, none, or a few at the range's ends.
LOOM_F16_INLINE __m256i lanes(int32_t first, int32_t last)
{
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(index, _mm256_set1_epi32(first - 1)), _mm256_cmpgt_epi32(_mm256_set1_epi32(last), index));
}

/// A group's eight results, those of rows [first, last) only.
LOOM_F16_INLINE void store8(float *y, __m256 v, int32_t first, int32_t last)
{
    if (first <= 0 && last >= 8) _mm256_storeu_ps(y, v);
    else if (first < 8 && last > 0) _mm256_maskstore_ps(y, lanes(first, last), v);
}

/// The partial sums stored by store8 (zero in the other lanes; a lane outside the range is never read).
LOOM_F16_INLINE __m256 load8(const float *y, int32_t first, int32_t last)
{
    if (first <= 0 && last >= 8) return _mm256_loadu_ps(y);
    if (first < 8 && last > 0) return _mm256_maskload_ps(y, lanes(first, last));
    return _mm256_setzero_ps();
}

/// Groups g, g + 1 (adjacent at each k: `w` is group g's element k0) × `tokens` tokens over k0 .. k0 + depth − 1. x:
/// token 0's input k0, token j's at + j * x_stride; y: row 8g for token 0; rows [first, last) counted from row 8g are
/// stored. `resume`: the sums of the earlier k are in y and go on from there (a store and reload of fp32 is exact).
LOOM_F16_INLINE void pair_tile(const uint16_t *w, int32_t depth, const float *x, int32_t x_stride, float *y,
    int32_t y_stride, int32_t first, int32_t last, int resume, const int tokens)
{
    __m256 a[TILE_TOKENS][2];
#pragma GCC unroll 6
    for (int j = 0; j < tokens; j++)
    {
        a[j][0] = resume ? load8(y + (long)j * y_stride, first, last) : _mm256_setzero_ps();
        a[j][1] = resume ? load8(y + (long)j * y_stride + 8, first - 8, last - 8) : _mm256_setzero_ps();
    }
    for (int32_t k = 0; k < depth; k++)
    {
        __m256i halves = _mm256_loadu_si256((const __m256i *)(w + (long)k * K_STRIDE));
        __m256 w0 = _mm256_cvtph_ps(_mm256_castsi256_si128(halves));
        __m256 w1 = _mm256_cvtph_ps(_mm256_extracti128_si256(halves, 1));
#pragma GCC unroll 6
        for (int j = 0; j < tokens; j++)
        {
            __m256 v = _mm256_broadcast_ss(x + (long)j * x_stride + k);
            a[j][0] = _mm256_fmadd_ps(w0, v, a[j][0]);
            a[j][1] = _mm256_fmadd_ps(w1, v, a[j][1]);
        }
    }
#pragma GCC unroll 6
    for (int j = 0; j < tokens; j++)
    {
        store8(y + (long)j * y_stride, a[j][0], first, last);
        store8(y + (long)j * y_stride + 8, a[j][1], first - 8, last - 8);
    }
}

/// One token over `blocks` (1 or 2) adjacent blocks of eight groups (64 rows each, 128 bytes per k read as one
/// sequential stream per block; eight independent chains per block hide the FMA latency): decode. Two streams at once
/// keep more misses in flight: one Zen 2 core read 16.4–18.6 GB/s from DRAM with two against 12.2–12.4 with one (a
/// software prefetch added nothing). w: the first block; the next is `block_halves` further. y: row 0 of the first
/// block; rows [first, last) counted from there are stored.
LOOM_F16_INLINE void blocks_token(const uint16_t *w, long block_halves, int32_t n, const float *x, float *y, int32_t first,
    int32_t last, const int blocks)
{
    __m256 a[2][8];
#pragma GCC unroll 2
    for (int b = 0; b < blocks; b++)
#pragma GCC unroll 8
        for (int h = 0; h < 8; h++) a[b][h] = _mm256_setzero_ps();
    for (int32_t k = 0; k < n; k++)
    {
        __m256 v = _mm256_broadcast_ss(x + k);
#pragma GCC unroll 2
        for (int b = 0; b < blocks; b++)
        {
            const uint16_t *wk = w + b * block_halves + (long)k * K_STRIDE;
#pragma GCC unroll 8
            for (int h = 0; h < 8; h++)
                a[b][h] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wk + 8 * h))), v, a[b][h]);
        }
    }
#pragma GCC unroll 2
    for (int b = 0; b < blocks; b++)
#pragma GCC unroll 8
        for (int h = 0; h < 8; h++) store8(y + 64 * b + 8 * h, a[b][h], first - 64 * b - 8 * h, last - 64 * b - 8 * h);
}

/// Most k per pass: 16 rows × 1024 halves are 32 KB of weights beside a token tile's 256 KB of inputs.
#define PANEL_DEPTH 1024

/// y[t * y_stride + o] = Σ_k w[o][k] · x[t * x_stride + k] for rows o in [row_start, row_end), tokens t < tokens.
/// w: the repacked weights' base (InterleavedHalfWeights: [block][k][64 rows] of fp16, every value finite). One
/// token goes two blocks at a time (blocks_token). For more, a long
/// row is cut into equal k-chunks of at most PANEL_DEPTH, and tokens go in tiles of about 256 KiB of a chunk's
/// inputs, so each pair of groups (16 rows) is read from cache by the tile's six-token blocks and the whole matrix is
/// streamed once per tile, not once per six tokens. Pairs partly outside the range (or in the last block's zero
/// padding) are computed and stored in part.
LOOM_EXPORT LOOM_F16_TARGET void loom_f16_gemm(const uint16_t *w, int32_t n, const float *x, int32_t x_stride,
    int32_t tokens, float *y, int32_t y_stride, int32_t row_start, int32_t row_end)
{
    if (tokens == 1)
    {
        long block_halves = (long)n * K_STRIDE;
        int32_t block = row_start / 64;
        for (; (block + 1) * 64 < row_end; block += 2)
            blocks_token(w + block * block_halves, block_halves, n, x, y + block * 64, row_start - block * 64,
                row_end - block * 64, 2);
        if (block * 64 < row_end)
            blocks_token(w + block * block_halves, block_halves, n, x, y + block * 64, row_start - block * 64,
                row_end - block * 64, 1);
        return;
    }
    int32_t chunks = (n + PANEL_DEPTH - 1) / PANEL_DEPTH, depth = (n + chunks - 1) / chunks;
    long tile = (256L * 1024) / ((long)depth * (long)sizeof(float)) / TILE_TOKENS * TILE_TOKENS;
    if (tile < TILE_TOKENS) tile = TILE_TOKENS;
    for (int32_t t0 = 0; t0 < tokens; t0 += (int32_t)tile)
    {
        int32_t t_end = t0 + (int32_t)tile < tokens ? t0 + (int32_t)tile : tokens;
        for (int32_t k0 = 0; k0 < n; k0 += depth)
        {
            int32_t d = n - k0 < depth ? n - k0 : depth, resume = k0 > 0;
            for (int32_t g = (row_start / 8) & ~1; g * 8 < row_end; g += 2)
            {
                const uint16_t *wg = w + (long)(g / 8) * n * K_STRIDE + (long)k0 * K_STRIDE + (g % 8) * 8;
                int32_t first = row_start - g * 8, last = row_end - g * 8;
                int32_t t = t0;
                for (; t + TILE_TOKENS <= t_end; t += TILE_TOKENS)
                    pair_tile(wg, d, x + (long)t * x_stride + k0, x_stride, y + (long)t * y_stride + g * 8, y_stride, first,
                        last, resume, TILE_TOKENS);
                const float *xt = x + (long)t * x_stride + k0;
                float *yt = y + (long)t * y_stride + g * 8;
                switch (t_end - t)
                {
                case 1: pair_tile(wg, d, xt, x_stride, yt, y_stride, first, last, resume, 1); break;
                case 2: pair_tile(wg, d, xt, x_stride, yt, y_stride, first, last, resume, 2); break;
                case 3: pair_tile(wg, d, xt, x_stride, yt, y_stride, first, last, resume, 3); break;
                case 4: pair_tile(wg, d, xt, x_stride, yt, y_stride, first, last, resume, 4); break;
                case 5: pair_tile(wg, d, xt, x_stride, yt, y_stride, first, last, resume, 5); break;
                default: break;
                }
            }
        }
    }
}
