// Layer kernels. Tensors are flat arrays in (C, H, W) order, as in the golden model; a layer's
// geometry comes from a config struct generated per layer (hls4ml style).
#ifndef WB_LAYERS_H
#define WB_LAYERS_H

#include "wb_mac.h"

namespace wb {

// Convolution in CFG::groups groups (depthwise when groups == in_c): output channel oc reads the
// fan_in = in_c / groups * k_h * k_w patch values of its group, which lie contiguously in the patch.
template <class CFG>
void conv2d(const typename CFG::in_t x[], typename CFG::out_t y[], const weight_t w[], const param_t mul[],
            const param_t bias[], unsigned shift, unsigned bits) {
    const bool bipolar = bits == 1 && CFG::bipolar_in;
    const typename CFG::in_t pad = bipolar ? -1 : 0;
    const unsigned group_out = CFG::out_c / CFG::groups;
    typename CFG::in_t patch[CFG::in_c * CFG::k_h * CFG::k_w];
    for (unsigned oh = 0; oh < CFG::out_h; oh++) {
        for (unsigned ow = 0; ow < CFG::out_w; ow++) {
            for (unsigned c = 0; c < CFG::in_c; c++) {
                for (unsigned kh = 0; kh < CFG::k_h; kh++) {
                    for (unsigned kw = 0; kw < CFG::k_w; kw++) {
                        const int ih = int(oh * CFG::s_h + kh) - int(CFG::p_h);
                        const int iw = int(ow * CFG::s_w + kw) - int(CFG::p_w);
                        const bool inside = ih >= 0 && ih < int(CFG::in_h) && iw >= 0 && iw < int(CFG::in_w);
                        patch[(c * CFG::k_h + kh) * CFG::k_w + kw] =
                            inside ? x[(c * CFG::in_h + ih) * CFG::in_w + iw] : pad;
                    }
                }
            }
            for (unsigned oc = 0; oc < CFG::out_c; oc++) {
                const typename CFG::acc_t acc = dot<CFG::fan_in, typename CFG::acc_t>(
                    &patch[(oc / group_out) * CFG::fan_in], &w[oc * CFG::fan_in], bits, bipolar);
                y[(oc * CFG::out_h + oh) * CFG::out_w + ow] =
                    requant<typename CFG::out_t>(acc, mul[oc], bias[oc], shift, CFG::relu, bits);
            }
        }
    }
}

template <class CFG>
void linear(const typename CFG::in_t x[], typename CFG::out_t y[], const weight_t w[], const param_t mul[],
            const param_t bias[], unsigned shift, unsigned bits) {
    const bool bipolar = bits == 1 && CFG::bipolar_in;
    for (unsigned oc = 0; oc < CFG::out_c; oc++) {
        const typename CFG::acc_t acc = dot<CFG::fan_in, typename CFG::acc_t>(x, &w[oc * CFG::fan_in], bits, bipolar);
        y[oc] = requant<typename CFG::out_t>(acc, mul[oc], bias[oc], shift, CFG::relu, bits);
    }
}

template <class CFG>
void maxpool(const typename CFG::in_t x[], typename CFG::out_t y[]) {
    for (unsigned c = 0; c < CFG::out_c; c++)
        for (unsigned oh = 0; oh < CFG::out_h; oh++)
            for (unsigned ow = 0; ow < CFG::out_w; ow++) {
                typename CFG::in_t m = x[(c * CFG::in_h + oh * CFG::s_h) * CFG::in_w + ow * CFG::s_w];
                for (unsigned kh = 0; kh < CFG::k_h; kh++)
                    for (unsigned kw = 0; kw < CFG::k_w; kw++) {
                        const typename CFG::in_t v = x[(c * CFG::in_h + oh * CFG::s_h + kh) * CFG::in_w + ow * CFG::s_w + kw];
                        if (v > m) m = v;
                    }
                y[(c * CFG::out_h + oh) * CFG::out_w + ow] = m;
            }
}

// Average pooling (global average pooling: one window over the whole plane): the window sum,
// requantized to the rounded mean.
template <class CFG>
void avgpool(const typename CFG::in_t x[], typename CFG::out_t y[], const param_t mul[], const param_t bias[],
             unsigned shift, unsigned bits) {
    for (unsigned c = 0; c < CFG::out_c; c++)
        for (unsigned oh = 0; oh < CFG::out_h; oh++)
            for (unsigned ow = 0; ow < CFG::out_w; ow++) {
                typename CFG::acc_t sum = 0;
                for (unsigned kh = 0; kh < CFG::k_h; kh++)
                    for (unsigned kw = 0; kw < CFG::k_w; kw++)
                        sum += x[(c * CFG::in_h + oh * CFG::s_h + kh) * CFG::in_w + ow * CFG::s_w + kw];
                y[(c * CFG::out_h + oh) * CFG::out_w + ow] =
                    requant<typename CFG::out_t>(sum, mul[c], bias[c], shift, CFG::relu, bits);
            }
}

// Residual add: each input scaled by its own multiplier, then the output stage.
template <class CFG>
void add(const typename CFG::in_t a[], const typename CFG::in2_t b[], typename CFG::out_t y[],
         const param_t mul_a[], const param_t mul_b[], const param_t bias[], unsigned shift, unsigned bits) {
    for (unsigned c = 0; c < CFG::out_c; c++)
        for (unsigned i = 0; i < CFG::plane; i++) {
            const unsigned k = c * CFG::plane + i;
            const wide_t v = wide_t(a[k]) * mul_a[c] + wide_t(b[k]) * mul_b[c] + bias[c];
            y[k] = requant_output<typename CFG::out_t>(v, shift, CFG::relu, bits);
        }
}

template <class CFG>
void flatten(const typename CFG::in_t x[], typename CFG::out_t y[]) {
    for (unsigned i = 0; i < CFG::size; i++) y[i] = x[i];
}

}  // namespace wb

#endif
