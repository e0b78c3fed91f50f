// Loom's optional native CPU kernels: the instructions .NET 10 does not expose (AVX512-VNNI's vpdpbusd).
//
// Each function computes exactly what the managed kernel of the same name computes (InterleavedBlockFormats.cs),
// lane for lane: the integer block sums are exact whichever instructions form them, and the float operations per
// (row, token) are the managed ones in the same order (convert, d_w * d_x, fused multiply-add, then the min), so the
// outputs are the same bits. Built by Loom.Backends.csproj when a C compiler is present; loaded only where the CPU has
// AVX512-VNNI (NativeCpuKernels.cs decides); without it Loom runs its managed kernels.
//
// Built with -ffp-contract=off: no multiply may be fused into an add that the managed kernel rounds separately.

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define LOOM_EXPORT __attribute__((visibility("default")))
#define LOOM_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,f16c,fma")))
#define LOOM_INLINE static inline __attribute__((always_inline)) LOOM_TARGET

/// Bumped whenever an exported signature changes, so a stale library is refused rather than called wrongly.
LOOM_EXPORT int32_t loom_native_abi_version(void) { return 3; }

/// 32 bytes of group g (lower half) and 32 of group g + 1 (upper half) as one zmm.
LOOM_INLINE __m512i join(const uint8_t *a, const uint8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/// Eight fp16 scales of each group to fp32 (vcvtph2ps: exact for every finite value, as the managed conversion).
LOOM_INLINE __m512 halves16(const uint16_t *a, const uint16_t *b)
{
    __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                        _mm_loadu_si128((const __m128i *)b), 1);
    return _mm512_cvtph_ps(h);
}

/// Four activation bytes broadcast to all sixteen lanes.
LOOM_INLINE __m512i broadcast4(const int8_t *x)
{
    int32_t v;
    memcpy(&v, x, sizeof v);
    return _mm512_set1_epi32(v);
}

/// Lanes [first, last) of sixteen row results.
LOOM_INLINE void store16(float *y, __m512 v, int32_t first, int32_t last)
{
    if (first == 0 && last == 16) _mm512_storeu_ps(y, v);
    else _mm512_mask_storeu_ps(y, (__mmask16)(((1u << last) - 1u) & ~((1u << first) - 1u)), v);
}

/// acc + float(sum) * (d_w * d_x): the managed kernels' one float step per block.
LOOM_INLINE __m512 scale(__m512 acc, __m512i sum, __m512 dw, float dx)
{
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc);
}

/// Q8_0x8.Tokens8Pair (tokens = 8) or a four-token tile (tokens = 4): tokens t..t+tokens−1 of two groups of eight rows
/// (q0/s0 to lanes 0–7, q1/s1 to 8–15). x, xd, xs: token t's quants, block scales and block sums; token t + j's at
/// + j * n (j * blocks for xd, xs). vpdpbusd multiplies unsigned by signed bytes: the weights are made unsigned
/// (w + 128, an xor of the sign bit) and 128 · Σx is taken off the exact int32 sum again.
LOOM_INLINE void q8_0_pair(const uint8_t *q0, const uint8_t *q1, const uint16_t *s0, const uint16_t *s1,
    int32_t blocks, const int8_t *x, const float *xd, const int32_t *xs, float *y, int32_t y_stride, int32_t first,
    int32_t last, const int tokens)
{
    const long n = (long)blocks * 32;
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    __m512 f[8];
    for (int j = 0; j < tokens; j++) f[j] = _mm512_setzero_ps();
    for (int32_t b = 0; b < blocks; b++)
    {
        __m512i i[8];
        for (int j = 0; j < tokens; j++) i[j] = _mm512_setzero_si512();
        const uint8_t *wa = q0 + (long)b * 256, *wb = q1 + (long)b * 256;
        const int8_t *xb = x + (long)b * 32;
        for (int c = 0; c < 8; c++)
        {
            __m512i w = _mm512_xor_si512(join(wa + c * 32, wb + c * 32), bias);
#pragma GCC unroll 8
            for (int j = 0; j < tokens; j++) i[j] = _mm512_dpbusd_epi32(i[j], w, broadcast4(xb + j * n + c * 4));
        }
        __m512 dw = halves16(s0 + (long)b * 8, s1 + (long)b * 8);
#pragma GCC unroll 8
        for (int j = 0; j < tokens; j++)
        {
            long at = (long)j * blocks + b;
            f[j] = scale(f[j], _mm512_sub_epi32(i[j], _mm512_set1_epi32(xs[at] << 7)), dw, xd[at]);
        }
    }
    for (int j = 0; j < tokens; j++) store16(y + (long)j * y_stride, f[j], first, last);
}

/// Nibblesx8<TFormat>.Tokens8Pair (or a four-token tile) for the 4- and 5-bit types: the group block's four vectors of nibbles (and a vector
/// of fifth bits) unpacked once for eight tokens, each token's block sum one vpdpbusd chain of eight; then the offset
/// (Σ(q − o)·x = Σq·x − o·Σx, o = 1 << offset_shift) and the min (m · d_x·Σx), as the managed kernel does them.
LOOM_INLINE void nibbles_pair(const uint8_t *q0, const uint8_t *q1, const uint16_t *s0, const uint16_t *s1,
    int32_t blocks, const int8_t *x, const float *xd, const int32_t *xs, float *y, int32_t y_stride, int32_t first,
    int32_t last, const int tokens, const int fifth_bit, const int offset_shift, const int has_min)
{
    const long n = (long)blocks * 32;
    const long group_block = fifth_bit ? 160 : 128;
    const int halves = has_min ? 16 : 8;
    const __m512i low = _mm512_set1_epi8(0x0F), bit4 = _mm512_set1_epi8(0x10);
    __m512 f[8];
    for (int j = 0; j < tokens; j++) f[j] = _mm512_setzero_ps();
    for (int32_t b = 0; b < blocks; b++)
    {
        const uint8_t *qa = q0 + b * group_block, *qb = q1 + b * group_block;
        __m512i lo[4], hi[4];
        __m512i fifth = fifth_bit ? join(qa + 128, qb + 128) : _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++)
        {
            __m512i packed = join(qa + m * 32, qb + m * 32);
            lo[m] = _mm512_and_si512(packed, low);
            hi[m] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
            if (fifth_bit)
            {
                lo[m] = _mm512_or_si512(lo[m], _mm512_and_si512(_mm512_slli_epi16(fifth, 4 - m), bit4));
                hi[m] = _mm512_or_si512(hi[m], _mm512_and_si512(_mm512_srli_epi16(fifth, m), bit4));
            }
        }
        const uint16_t *sa = s0 + (long)b * halves, *sb = s1 + (long)b * halves;
        __m512 dw = halves16(sa, sb);
        __m512 mw = has_min ? halves16(sa + 8, sb + 8) : _mm512_setzero_ps();
        // Each unpacked vector is multiplied into every token's sum before the next vector: `tokens` independent
        // vpdpbusd chains side by side, rather than one dependent chain of eight per token.
        __m512i sum[8];
        for (int j = 0; j < tokens; j++) sum[j] = _mm512_setzero_si512();
        const int8_t *xb = x + (long)b * 32;
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++)
        {
#pragma GCC unroll 8
            for (int j = 0; j < tokens; j++) sum[j] = _mm512_dpbusd_epi32(sum[j], lo[m], broadcast4(xb + j * n + 4 * m));
#pragma GCC unroll 8
            for (int j = 0; j < tokens; j++) sum[j] = _mm512_dpbusd_epi32(sum[j], hi[m], broadcast4(xb + j * n + 16 + 4 * m));
        }
#pragma GCC unroll 8
        for (int j = 0; j < tokens; j++)
        {
            long at = (long)j * blocks + b;
            __m512i s = offset_shift ? _mm512_sub_epi32(sum[j], _mm512_set1_epi32(xs[at] << offset_shift)) : sum[j];
            f[j] = scale(f[j], s, dw, xd[at]);
            if (has_min) f[j] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xd[at] * (float)xs[at]), f[j]);
        }
    }
    for (int j = 0; j < tokens; j++) store16(y + (long)j * y_stride, f[j], first, last);
}

#define LOOM_PAIR_SIGNATURE                                                                                      \
    (const uint8_t *q0, const uint8_t *q1, const uint16_t *s0, const uint16_t *s1, int32_t blocks, const int8_t *x, \
     const float *xd, const int32_t *xs, float *y, int32_t y_stride, int32_t first, int32_t last)

LOOM_EXPORT LOOM_TARGET void loom_q8_0_tokens8_pair LOOM_PAIR_SIGNATURE
{
    q8_0_pair(q0, q1, s0, s1, blocks, x, xd, xs, y, y_stride, first, last, 8);
}

LOOM_EXPORT LOOM_TARGET void loom_q8_0_tokens4_pair LOOM_PAIR_SIGNATURE
{
    q8_0_pair(q0, q1, s0, s1, blocks, x, xd, xs, y, y_stride, first, last, 4);
}

#define LOOM_NIBBLES(type, fifth_bit, offset_shift, has_min)                                                        \
    LOOM_EXPORT LOOM_TARGET void loom_##type##_tokens8_pair LOOM_PAIR_SIGNATURE                                      \
    {                                                                                                                \
        nibbles_pair(q0, q1, s0, s1, blocks, x, xd, xs, y, y_stride, first, last, 8, fifth_bit, offset_shift,        \
                     has_min);                                                                                       \
    }                                                                                                                \
    LOOM_EXPORT LOOM_TARGET void loom_##type##_tokens4_pair LOOM_PAIR_SIGNATURE                                      \
    {                                                                                                                \
        nibbles_pair(q0, q1, s0, s1, blocks, x, xd, xs, y, y_stride, first, last, 4, fifth_bit, offset_shift,        \
                     has_min);                                                                                       \
    }

LOOM_NIBBLES(q4_0, 0, 3, 0)
LOOM_NIBBLES(q4_1, 0, 0, 1)
LOOM_NIBBLES(q5_0, 1, 4, 0)
LOOM_NIBBLES(q5_1, 1, 0, 1)
