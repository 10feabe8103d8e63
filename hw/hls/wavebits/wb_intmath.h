// wavebits integer contract, C++ (HLS) side. Mirrors wavebits/intmath.py exactly:
//   rounding:   rshift_round(v, s) = (v + 2^(s-1)) >> s   (round half up, arithmetic shift)
//   weights:    b >= 2: clamp to +-(2^(b-1)-1); b == 1: +1 if r >= 0 else -1
//   requant:    v = acc * mul + bias; relu: clamp(rshift_round(v, s), 0, 2^b-1), 1 bit: v >= 0 ? +1 : -1;
//               none: rshift_round(v, s) unclamped
#ifndef WB_INTMATH_H
#define WB_INTMATH_H

#include "ap_int.h"

namespace wb {

typedef ap_int<64> wide_t;     // requantization products (bounded below 2^62 by the bank loader)
// Stored constants are plain integers: static ROM data to HLS, and quick for g++ to compile.
typedef signed char weight_t;  // the active width's integer weight (|w| <= 127, or +-1)
typedef long long param_t;     // a requantization multiplier or bias

inline wide_t rshift_round(wide_t v, unsigned shift) {
#pragma HLS INLINE
    if (shift == 0) return v;
    return (v + (wide_t(1) << (shift - 1))) >> shift;
}

inline int weight_limit(unsigned bits) { return bits == 1 ? 1 : (1 << (bits - 1)) - 1; }
inline int act_limit(unsigned bits) { return bits == 1 ? 1 : (1 << bits) - 1; }

inline weight_t quantize_weight(wide_t r, unsigned shift, unsigned bits) {
#pragma HLS INLINE
    if (bits == 1) return r >= 0 ? weight_t(1) : weight_t(-1);
    wide_t q = rshift_round(r, shift);
    const int lim = weight_limit(bits);
    if (q > lim) q = lim;
    if (q < -lim) q = -lim;
    return weight_t(q);
}

// The output stage of requantization, from v = acc * mul + bias.
template <class out_t>
out_t requant_output(wide_t v, unsigned shift, bool relu, unsigned bits) {
#pragma HLS INLINE
    if (!relu) return out_t(rshift_round(v, shift));
    if (bits == 1) return v >= 0 ? out_t(1) : out_t(-1);
    wide_t q = rshift_round(v, shift);
    const int top = act_limit(bits);
    if (q < 0) q = 0;
    if (q > top) q = top;
    return out_t(q);
}

template <class out_t, class acc_t>
out_t requant(acc_t acc, param_t mul, param_t bias, unsigned shift, bool relu, unsigned bits) {
#pragma HLS INLINE
    return requant_output<out_t>(wide_t(acc) * mul + bias, shift, relu, bits);
}

}  // namespace wb

#endif
