// Verilator test bench for FINN's RTL layers stitched by wavebits (codegen/finn_rtl.py): streams the
// input beats of N inferences into finn_top's in0 stream and logs every output beat of out0.
//
//   Vtb <inputs.hex> <beats in per inference> <beats out per inference> <events out>
//
// Each line of inputs.hex is one input beat, hexadecimal, most significant digit first. Inference 0
// streams alone (its latency: first input beat to last output beat); the others follow back to back
// once inference 0's outputs are all out (the interval). out0 is always ready. FINN_TB_CYCLE_LIMIT=N
// stops the bench after N cycles with exit status 3. Lines of the events file:
//   in <cycle> <inference>  (its first beat)     out <cycle> <beat hex>     done <cycle>
#include "Vfinn_top.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

typedef std::vector<uint32_t> Words;  // a beat, least significant 32-bit word first

static Words parse_hex(const std::string& hex) {
    Words w;
    for (int end = (int)hex.size(); end > 0; end -= 8) {
        int start = end >= 8 ? end - 8 : 0;
        w.push_back((uint32_t)std::stoul(hex.substr(start, end - start), nullptr, 16));
    }
    return w;
}

template <typename T> static void put(T& port, const Words& w) {
    uint64_t v = w.empty() ? 0 : w[0];
    if (w.size() > 1) v |= (uint64_t)w[1] << 32;
    port = (T)v;
}
template <std::size_t N> static void put(VlWide<N>& port, const Words& w) {
    for (std::size_t i = 0; i < N; i++) port[i] = i < w.size() ? w[i] : 0;
}
template <typename T> static std::string hex(const T& port) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%llx", (unsigned long long)port);
    return buf;
}
template <std::size_t N> static std::string hex(const VlWide<N>& port) {
    std::string s;
    char buf[12];
    for (std::size_t i = N; i-- > 0;) {
        std::snprintf(buf, sizeof buf, "%08x", (unsigned)port[i]);
        s += buf;
    }
    return s;
}

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s inputs.hex beats_in beats_out events.txt\n", argv[0]);
        return 2;
    }
    Verilated::commandArgs(argc, argv);
    std::vector<Words> beats;
    {
        std::ifstream f(argv[1]);
        std::string line;
        while (std::getline(f, line))
            if (!line.empty()) beats.push_back(parse_hex(line));
    }
    const long beats_in = std::atol(argv[2]), beats_out = std::atol(argv[3]);
    if (beats_in <= 0 || beats_out <= 0 || beats.empty() || beats.size() % beats_in) {
        std::fprintf(stderr, "error: %zu input beats are no whole number of inferences of %ld beats\n",
                     beats.size(), beats_in);
        return 2;
    }
    const long inferences = (long)beats.size() / beats_in;
    const char* limit_env = std::getenv("FINN_TB_CYCLE_LIMIT");
    const long long limit = limit_env ? std::atoll(limit_env) : 10000000LL;
    FILE* events = std::fopen(argv[4], "w");
    if (!events) {
        std::fprintf(stderr, "error: cannot write %s\n", argv[4]);
        return 2;
    }

    Vfinn_top* top = new Vfinn_top;
    top->ap_clk = 0;
    top->ap_rst_n = 0;
    top->in0_V_TVALID = 0;
    top->out0_V_TREADY = 1;
    for (int i = 0; i < 16; i++) {
        top->ap_clk = !top->ap_clk;
        top->eval();
    }
    top->ap_rst_n = 1;

    std::size_t next_in = 0;
    long outs = 0;
    long long cycle = 0;
    while (outs < inferences * beats_out) {
        if (cycle >= limit) {
            std::fprintf(stderr, "error: cycle limit %lld reached after %ld of %ld output beats\n", limit, outs,
                         inferences * beats_out);
            std::fclose(events);
            return 3;
        }
        // inference 0 alone, the rest once its outputs are all out
        const bool may_send = next_in < beats.size() && (next_in < (std::size_t)beats_in || outs >= beats_out);
        top->in0_V_TVALID = may_send;
        if (may_send) put(top->in0_V_TDATA, beats[next_in]);
        top->ap_clk = 0;
        top->eval();
        const bool in_fire = top->in0_V_TVALID && top->in0_V_TREADY;
        const bool out_fire = top->out0_V_TVALID && top->out0_V_TREADY;
        if (in_fire && next_in % beats_in == 0) std::fprintf(events, "in %lld %ld\n", cycle, (long)(next_in / beats_in));
        if (out_fire) {
            std::fprintf(events, "out %lld %s\n", cycle, hex(top->out0_V_TDATA).c_str());
            outs++;
        }
        top->ap_clk = 1;
        top->eval();
        if (in_fire) next_in++;
        cycle++;
    }
    std::fprintf(events, "done %lld\n", cycle);
    std::fclose(events);
    top->final();
    delete top;
    return 0;
}
