// Shift-add Haar reconstruction unit: the width's integer weights from the stored components.
// Mirrors wavebits/reconstruct.py (reconstruct): each component is scaled by at most MAX_TERMS
// signed power-of-two terms (shifts and adds), the 2x2 butterfly combines the four (8 adds), and
// a rounding shift with a clamp quantizes to the width.
#ifndef WB_HAAR_H
#define WB_HAAR_H

#include "wb_intmath.h"

namespace wb {

typedef short comp_t;       // a stored wavelet component (comp_bits <= 16)
typedef ap_int<48> haar_t;  // scaled components and butterfly sums

struct term_t {
    signed char sign;     // +1 or -1
    unsigned char shift;  // left shift, 0..30
};

template <unsigned MAX_TERMS>
inline haar_t shift_add(comp_t c, const term_t terms[MAX_TERMS], unsigned n_terms) {
#pragma HLS INLINE
    haar_t acc = 0;
    for (unsigned i = 0; i < MAX_TERMS; i++) {
#pragma HLS UNROLL
        if (i < n_terms) {
            haar_t t = haar_t(c) << unsigned(terms[i].shift);
            acc = terms[i].sign > 0 ? haar_t(acc + t) : haar_t(acc - t);
        }
    }
    return acc;
}

inline void butterfly(haar_t a, haar_t b, haar_t c, haar_t d, haar_t out[4]) {
#pragma HLS INLINE
    const haar_t s1 = a + b, d1 = a - b, s2 = c + d, d2 = c - d;
    out[0] = s1 + s2;  // block position (0, 0)
    out[1] = d1 + d2;  // (0, 1)
    out[2] = s1 - s2;  // (1, 0)
    out[3] = d1 - d2;  // (1, 1)
}

// Rebuild ROWS x COLS weights (row-major, the padded matrix cropped) for one width.
// comps: LL, LH, HL, HH, each (PROWS/2) x (PCOLS/2); terms/n_terms: the width's scale per component.
template <unsigned ROWS, unsigned COLS, unsigned PROWS, unsigned PCOLS, unsigned MAX_TERMS>
void haar_reconstruct(const comp_t ll[], const comp_t lh[], const comp_t hl[], const comp_t hh[],
                      const term_t terms[4][MAX_TERMS], const unsigned char n_terms[4],
                      unsigned shift, unsigned bits, weight_t w[ROWS * COLS]) {
    for (unsigned i = 0; i < PROWS / 2; i++) {
        for (unsigned j = 0; j < PCOLS / 2; j++) {
#pragma HLS PIPELINE II = 1
            const unsigned k = i * (PCOLS / 2) + j;
            haar_t q[4];
            butterfly(shift_add<MAX_TERMS>(ll[k], terms[0], n_terms[0]),
                      shift_add<MAX_TERMS>(lh[k], terms[1], n_terms[1]),
                      shift_add<MAX_TERMS>(hl[k], terms[2], n_terms[2]),
                      shift_add<MAX_TERMS>(hh[k], terms[3], n_terms[3]), q);
            for (unsigned p = 0; p < 4; p++) {
#pragma HLS UNROLL
                const unsigned r = 2 * i + p / 2, c = 2 * j + p % 2;
                if (r < ROWS && c < COLS) w[r * COLS + c] = quantize_weight(wide_t(q[p]), shift, bits);
            }
        }
    }
}

}  // namespace wb

#endif
