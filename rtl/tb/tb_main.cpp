// rtl/tb/tb_main.cpp — main() of the Verilator testbenches (each verilated with --prefix
// Vtb): runs the SystemVerilog testbench until $finish and exits with the status it set
// through the DPI-C import tb_exit_status (Verilator's own --main always exits 0).
#include <cstdio>
#include <memory>

#include "Vtb.h"
#include "verilated.h"

namespace {
int exit_status = 2;  // the testbench did not say: an error
}  // namespace

extern "C" void tb_exit_status(int status) {
  exit_status = status;
}

int main(int argc, char** argv) {
  const auto context = std::make_unique<VerilatedContext>();
  context->commandArgs(argc, argv);
  const auto top = std::make_unique<Vtb>(context.get());
  while (!context->gotFinish()) {
    top->eval();
    if (!top->eventsPending()) break;
    context->time(top->nextTimeSlot());
  }
  if (!context->gotFinish()) {
    std::fprintf(stderr, "testbench: stopped without $finish\n");
    exit_status = 2;
  }
  top->final();
  return exit_status;
}
