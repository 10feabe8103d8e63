// Run-time-width dot products. The bit-width is an argument, not a template parameter:
//   b >= 2: bit-serial over the weight's bit planes (two's complement, MSB plane subtracts),
//           so the work per product is b shift-adds and falls with the width;
//   b == 1 with bipolar activations: 2 * popcount(XNOR) - N on 64-bit packed words;
//   b == 1 with multi-bit activations (the first layer): add or subtract.
#ifndef WB_MAC_H
#define WB_MAC_H

#include "wb_intmath.h"

namespace wb {

template <class acc_t, class x_t>
inline acc_t mac_bitserial(x_t x, weight_t w, unsigned bits) {
#pragma HLS INLINE
    acc_t sum = 0;
    for (unsigned p = 0; p < 8; p++) {
        if (p < bits && ((static_cast<unsigned char>(w) >> p) & 1)) {
            const acc_t t = acc_t(x) << p;
            sum = (p == bits - 1) ? acc_t(sum - t) : acc_t(sum + t);
        }
    }
    return sum;
}

template <unsigned N, class x_t>
inline ap_int<32> xnor_popcount(const x_t x[N], const weight_t w[N]) {
    ap_int<32> matches = 0;
    for (unsigned base = 0; base < N; base += 64) {
#pragma HLS PIPELINE
        ap_uint<64> xb = 0, wb = 0, valid = 0;
        for (unsigned j = 0; j < 64; j++) {
#pragma HLS UNROLL
            if (base + j < N) {
                xb[j] = x[base + j] > 0;
                wb[j] = w[base + j] > 0;
                valid[j] = 1;
            }
        }
        const ap_uint<64> agree = ~(xb ^ wb) & valid;
        for (unsigned j = 0; j < 64; j++) {
#pragma HLS UNROLL
            matches += agree[j];
        }
    }
    return 2 * matches - ap_int<32>(N);
}

template <unsigned N, class acc_t, class x_t>
acc_t dot(const x_t x[N], const weight_t w[N], unsigned bits, bool bipolar) {
    if (bits == 1 && bipolar) return acc_t(xnor_popcount<N>(x, w));
    acc_t acc = 0;
    for (unsigned k = 0; k < N; k++) {
#pragma HLS PIPELINE II = 1
        if (bits == 1)
            acc = w[k] > 0 ? acc_t(acc + x[k]) : acc_t(acc - x[k]);
        else
            acc += mac_bitserial<acc_t>(x[k], w[k], bits);
    }
    return acc;
}

}  // namespace wb

#endif
