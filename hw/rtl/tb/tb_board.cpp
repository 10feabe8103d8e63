// Verilator harness for the generated board top level (board/<board>.v, module wavebits_board): its
// UART pins on a TCP socket on the loopback interface, so that a host driver opens the simulated
// board as a serial port (pyserial: serial_for_url("socket://127.0.0.1:<port>")). Only bits cross
// the pins: the board's own UART receiver, command decoder, core and transmitter all run.
//
//   Vboard [port]        (port 0 or none: any free port)
//
// Built with -GCLKS_PER_BIT=N (the board top's parameter) and -DWB_CLKS_PER_BIT=N: each UART bit
// lasts N clock cycles here. The EHXPLLL is the behavioural stand-in tb/ehxplll_sim.v (clock out =
// clock in, LOCK after a few cycles), so the board's hold-in-reset-until-locked path runs as well.
//
// Once the board is out of reset it prints "listening 127.0.0.1 <port>" on stdout and serves one
// client at a time. Every byte from the client becomes an 8N1 frame on ftdi_txd (start bit 0, data
// LSB first, stop bit 1, N cycles each); ftdi_rxd is watched for frames, sampled in mid-bit, and
// each byte goes to the client. A frame whose stop bit is not 1 is counted as a framing error. The
// clock runs while a client is connected and until the bytes it sent have all reached the board;
// between clients the simulation waits in accept(), as a board waits with its clock stopped.
// SIGTERM or SIGINT ends it; it prints "cycles C in I out O framing_errors F" on stderr.
#include "Vwavebits_board.h"
#include "verilated.h"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef WB_CLKS_PER_BIT
#error "build with -DWB_CLKS_PER_BIT=N, equal to the -GCLKS_PER_BIT=N the board top was verilated with"
#endif

static volatile std::sig_atomic_t stop_requested = 0;
static void on_signal(int) { stop_requested = 1; }

namespace {

const int N = WB_CLKS_PER_BIT;

// host -> board: bytes queued by the client, shifted out as 8N1 frames on ftdi_txd
struct Transmitter {
    std::deque<unsigned char> queue;
    int frame = -1;  // the 10-bit frame in flight (bit 0 first), -1 when idle
    int bit = 0, count = 0;
    unsigned long long frames = 0;

    bool busy() const { return frame >= 0 || !queue.empty(); }
    // the line level for this cycle
    int step() {
        if (frame < 0) {
            if (queue.empty()) return 1;
            frame = (1 << 9) | (queue.front() << 1);  // stop, data (LSB first), start
            queue.pop_front();
            bit = 0;
            count = 0;
        }
        const int level = (frame >> bit) & 1;
        if (++count == N) {
            count = 0;
            if (++bit == 10) { frame = -1; ++frames; }
        }
        return level;
    }
};

// board -> host: frames seen on ftdi_rxd, sampled in the middle of each bit
struct Receiver {
    bool active = false;
    int count = 0, bit = 0, data = 0;
    unsigned long long frames = 0, framing_errors = 0;

    // one cycle's line level; returns the received byte, or -1
    int step(int level) {
        if (!active) {
            if (level == 0) { active = true; count = N / 2; bit = 0; data = 0; }
            return -1;
        }
        if (count > 0) { --count; return -1; }
        count = N - 1;
        if (bit == 0) {  // the start bit, in mid-bit
            if (level != 0) active = false;  // a glitch, not a frame
            bit = 1;
            return -1;
        }
        if (bit <= 8) { data |= level << (bit - 1); ++bit; return -1; }
        active = false;  // the stop bit
        if (level != 1) { ++framing_errors; return -1; }
        ++frames;
        return data;
    }
};

bool send_all(int fd, const unsigned char* p, size_t n) {
    while (n > 0) {
        const ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const int want_port = argc > 1 ? std::atoi(argv[1]) : 0;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;  // no SA_RESTART: a signal ends a waiting accept()
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    const int server = socket(AF_INET, SOCK_STREAM, 0);
    if (server < 0) { std::perror("socket"); return 2; }
    const int one = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr;
    std::memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only
    addr.sin_port = htons((unsigned short)want_port);
    socklen_t len = sizeof addr;
    if (bind(server, (sockaddr*)&addr, sizeof addr) < 0 || listen(server, 1) < 0 ||
        getsockname(server, (sockaddr*)&addr, &len) < 0) {
        std::perror("bind/listen");
        return 2;
    }

    Vwavebits_board* top = new Vwavebits_board;
    unsigned long long cycle = 0;
    Transmitter tx;
    Receiver rx;
    top->clk_25mhz = 0;
    top->ftdi_txd = 1;
    top->eval();
    auto tick = [&]() {
        top->ftdi_txd = tx.step();
        top->clk_25mhz = 1;
        top->eval();
        top->clk_25mhz = 0;
        top->eval();
        ++cycle;
        return rx.step(top->ftdi_rxd);
    };
    for (int i = 0; i < 256; ++i) tick();  // PLL lock and the board's power-on reset

    std::printf("listening 127.0.0.1 %d\n", (int)ntohs(addr.sin_port));
    std::fflush(stdout);

    unsigned char buf[4096];
    while (!stop_requested) {
        const int client = accept(server, nullptr, nullptr);
        if (client < 0) {
            if (errno == EINTR) continue;
            std::perror("accept");
            break;
        }
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        bool connected = true;
        std::deque<unsigned char> out;  // bytes from the board, sent in batches
        unsigned long long since_poll = 0;
        while (!stop_requested && (connected || tx.busy())) {
            const int byte = tick();
            if (byte >= 0 && connected) out.push_back((unsigned char)byte);
            if (++since_poll < 256 && out.size() < 64) continue;
            since_poll = 0;
            if (!connected) continue;
            if (!out.empty()) {
                unsigned char chunk[64];
                size_t n = 0;
                while (!out.empty() && n < sizeof chunk) { chunk[n++] = out.front(); out.pop_front(); }
                if (!send_all(client, chunk, n)) connected = false;
            }
            pollfd p = {client, POLLIN, 0};
            if (connected && poll(&p, 1, 0) > 0) {
                const ssize_t k = recv(client, buf, sizeof buf, 0);
                if (k > 0) tx.queue.insert(tx.queue.end(), buf, buf + k);
                else if (k == 0 || (errno != EINTR && errno != EAGAIN)) connected = false;
            }
        }
        close(client);
    }
    std::fprintf(stderr, "cycles %llu in %llu out %llu framing_errors %llu\n", cycle, tx.frames, rx.frames,
                 rx.framing_errors);
    top->final();
    delete top;
    close(server);
    return 0;
}
