// Verilator test bench for the generated wavebits_top: streams test vectors, writes the width
// register in mid-stream per a schedule, and logs every output, activation write and switch.
//
//   Vtb <inputs.dat> <schedule: 8,4,1,...> <vectors per segment> <events out> <stream|idle> [vcd file]
//
// A schedule item "b*n" makes a segment of n inferences at width b; a plain "b" takes the vectors per
// segment. Inference k streams input row k modulo the number of rows.
// stream: the width of segment k is written as soon as the last inference of segment k-1 has
// started computing (its first activation write): a switch in mid-stream.
// idle: the width is written once segment k-1's outputs are all out, then segment k starts at once.
// Segment 0's width is written before the first input. With WB_TB_BACKPRESSURE=1 in the
// environment the bench refuses every third output beat (out_ready low); with 2 it takes one beat
// in 1024 cycles, so that outputs still wait while the next inference runs; WB_TB_CYCLE_LIMIT=N stops it
// after N cycles with exit status 3 (a damaged project). Lines of the events file:
//   write <cycle> <bits>          in <cycle> <vector> (its first beat)   out <cycle> <inference> <bits> <value>
//   trace <inference> <layer> <addr> <mask> <data hex>               rebuild <start> <end>   done <cycle>
#include "Vwavebits_top.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static std::vector<std::vector<int> > read_rows(const char* path) {
    std::vector<std::vector<int> > rows;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream ss(line);
        std::vector<int> row;
        int v;
        while (ss >> v) row.push_back(v);
        if (!row.empty()) rows.push_back(row);
    }
    return rows;
}

static long long signed_out(unsigned long long v) {
    const unsigned long long sign = 1ULL << (WB_OUT_W - 1);
    v &= (sign << 1) - 1;
    return (long long)(v ^ sign) - (long long)sign;
}

int main(int argc, char** argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: %s inputs.dat schedule vectors events.txt stream|idle [trace.vcd]\n", argv[0]);
        return 2;
    }
    Verilated::commandArgs(argc, argv);
    std::vector<std::vector<int> > inputs = read_rows(argv[1]);
    const int per_segment = std::atoi(argv[3]);
    std::vector<int> schedule;  // width of each segment
    std::vector<int> segment;   // segment of each inference
    {
        std::stringstream ss(argv[2]);
        std::string item;
        while (std::getline(ss, item, ',')) {
            const size_t star = item.find('*');
            const int count = star == std::string::npos ? per_segment : std::atoi(item.c_str() + star + 1);
            for (int i = 0; i < count; ++i) segment.push_back((int)schedule.size());
            schedule.push_back(std::atoi(item.c_str()));
        }
    }
    const bool idle_switch = std::string(argv[5]) == "idle";
    bool hold = false;  // idle mode: inputs wait for the switch
    bool armed = false;  // stream mode: write at the next activation write
    const char* bp = std::getenv("WB_TB_BACKPRESSURE");
    const int backpressure = bp ? std::atoi(bp) : 0;
    if (inputs.empty() || schedule.empty() || segment.size() < schedule.size()) {
        std::fprintf(stderr, "no inputs, empty schedule or no vectors per segment\n");
        return 2;
    }
    std::FILE* ev = std::fopen(argv[4], "w");
    if (!ev) { std::perror(argv[4]); return 2; }

    Vwavebits_top* top = new Vwavebits_top;
#if VM_TRACE
    VerilatedVcdC* vcd = 0;
    if (argc > 6) {
        Verilated::traceEverOn(true);
        vcd = new VerilatedVcdC;
        top->trace(vcd, 99);
        vcd->open(argv[6]);
    }
#endif
    unsigned long long cycle = 0;
    const int total = (int)segment.size();
    int vec = 0, beat = 0, loads = 0, outputs_seen = 0, rebuilding_since = -1;
    const int n_out_per_inference = WB_OUTPUTS;  // -DWB_OUTPUTS=..., -DWB_OUT_W=... from the build
    const char* limit_env = std::getenv("WB_TB_CYCLE_LIMIT");  // set by sim/rtlsim.py from the bank
    const unsigned long long limit = limit_env ? std::strtoull(limit_env, 0, 10) : 4000000000ULL;
    bool pending_write = true;  // segment 0's width, before the first input
    int write_bits = schedule[0];

    top->clk = 0; top->rst = 1; top->cfg_valid = 0; top->in_valid = 0; top->out_ready = 1;
    for (int i = 0; i < 4; ++i) {
        top->clk = 1; top->eval(); top->clk = 0; top->eval();
    }
    top->rst = 0;
    while (outputs_seen < total * n_out_per_inference && cycle < limit) {
        // drive inputs for this cycle
        top->cfg_valid = 0;
        top->out_ready = backpressure == 1 ? cycle % 3 != 0 : backpressure == 2 ? cycle % 1024 == 0 : 1;
        if (armed && (top->trace_valid || top->out_valid)) {
            armed = false;
            pending_write = true;
            write_bits = schedule[segment[vec]];
        }
        if (hold && outputs_seen == vec * n_out_per_inference) {
            hold = false;
            pending_write = true;
            write_bits = schedule[segment[vec]];
        }
        if (pending_write) {
            top->cfg_valid = 1;
            top->cfg_bits = write_bits;
            std::fprintf(ev, "write %llu %d\n", cycle, write_bits);
            pending_write = false;
        }
        const bool have = vec < total && !hold && !top->cfg_valid;
        top->in_valid = have ? 1 : 0;
        top->in_data = have ? inputs[vec % inputs.size()][beat] : 0;
        top->eval();
        const bool in_fire = have && top->in_ready;
        const bool out_fire = top->out_valid && top->out_ready;
        if (out_fire) {
            std::fprintf(ev, "out %llu %d %d %lld\n", cycle, outputs_seen / n_out_per_inference, (int)top->out_bits,
                         signed_out((unsigned long long)top->out_data));
            ++outputs_seen;
        }
        if (top->trace_valid) {
            std::fprintf(ev, "trace %d %d %d %d %016llx\n", loads - 1, (int)top->trace_layer, (int)top->trace_addr,
                         (int)top->trace_mask, (unsigned long long)top->trace_data);
        }
        if (top->rebuilding && rebuilding_since < 0) rebuilding_since = (int)cycle;
        if (!top->rebuilding && rebuilding_since >= 0) {
            std::fprintf(ev, "rebuild %d %llu\n", rebuilding_since, cycle);
            rebuilding_since = -1;
        }
        // clock edge
        top->clk = 1; top->eval();
#if VM_TRACE
        if (vcd) vcd->dump((uint64_t)(2 * cycle + 1));
#endif
        top->clk = 0; top->eval();
#if VM_TRACE
        if (vcd) vcd->dump((uint64_t)(2 * cycle + 2));
#endif
        if (in_fire) {
            if (beat == 0) std::fprintf(ev, "in %llu %d\n", cycle, vec);
            if (++beat == (int)inputs[0].size()) {
                beat = 0; ++vec; ++loads;
                if (vec < total && segment[vec] != segment[vec - 1]) {
                    if (idle_switch) hold = true;
                    else armed = true;
                }
            }
        }
        ++cycle;
    }
    std::fprintf(ev, "done %llu %d\n", cycle, (int)top->cfg_error);
    std::fclose(ev);
#if VM_TRACE
    if (vcd) vcd->close();
#endif
    top->final();
    delete top;
    if (cycle >= limit) { std::fprintf(stderr, "cycle limit %llu reached\n", limit); return 3; }
    return 0;
}
