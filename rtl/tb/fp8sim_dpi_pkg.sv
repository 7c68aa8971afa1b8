// rtl/tb/fp8sim_dpi_pkg.sv — fp8sim's golden model (sim/dpi/fp8sim_dpi.h, the shared
// library libfp8sim_dpi.so) imported into SystemVerilog through DPI-C. Every argument is a
// DPI type the header's C types match: chandle = void*, string = const char*,
// longint unsigned = uint64_t, int unsigned = uint32_t, output int unsigned = uint32_t*.
/* verilator lint_off DECLFILENAME */
package fp8sim_dpi_pkg;
  import "DPI-C" function string fp8sim_last_error();
  import "DPI-C" function chandle fp8sim_mac_new(input string spec);
  import "DPI-C" function void fp8sim_mac_free(input chandle mac);
  import "DPI-C" function longint unsigned fp8sim_mac_step(
      input chandle mac, input longint unsigned acc, input longint unsigned a,
      input longint unsigned b, input int unsigned random_bits, output int unsigned flags);
  import "DPI-C" function void fp8sim_dot_begin(
      input chandle mac, input longint unsigned c, input int unsigned has_c,
      input longint unsigned seed, input longint unsigned index);
  import "DPI-C" function void fp8sim_dot_push(
      input chandle mac, input longint unsigned a, input longint unsigned b);
  import "DPI-C" function longint unsigned fp8sim_dot_end(
      input chandle mac, output int unsigned flags);
  import "DPI-C" function int unsigned fp8sim_mac_width(input chandle mac, input string which);
  import "DPI-C" function string fp8sim_mac_spec(input chandle mac);

  // The testbench's exit status, returned by rtl/tb/tb_main.cpp after $finish.
  import "DPI-C" function void tb_exit_status(input int status);

  // A deterministic 64-bit generator (splitmix64), the same in every simulator.
  class Rng;
    longint unsigned state;
    function new(longint unsigned seed);
      state = seed;
    endfunction
    function longint unsigned next();
      longint unsigned z;
      state += 64'h9E3779B97F4A7C15;
      z = state;
      z = (z ^ (z >> 30)) * 64'hBF58476D1CE4E5B9;
      z = (z ^ (z >> 27)) * 64'h94D049BB133111EB;
      return z ^ (z >> 31);
    endfunction
    // uniform in [0, n)
    function int unsigned below(int unsigned n);
      return int'(next() % 64'(n));
    endfunction
  endclass
endpackage
