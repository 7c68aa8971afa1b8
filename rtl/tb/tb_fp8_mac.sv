// rtl/tb/tb_fp8_mac.sv — Verilator testbench of rtl/fp8_mac.sv against fp8sim's golden
// model, called through DPI-C (fp8sim_dpi_pkg.sv -> libfp8sim_dpi.so).
//
// Three parameterisations run side by side, each against its own fp8sim spec:
//   e5m2-fp32    "ab=e5m2,acc=fp32,round=rne"    the design's defaults
//   e4m3fn-fp32  "ab=e4m3fn,acc=fp32,round=rne"
//   e5m2-fp16    "ab=e5m2,acc=fp16,round=rne"    (FP8 products never overflow or underflow
//                                                 fp32; a fp16 accumulator does both)
// Each runs, as sequences ("chains") of MAC steps after a load of the accumulator:
//   corners     every (a, b, acc) of the corner lists below, one step each;
//   exhaustive  every (a, b) pair of FP8 codes, once from acc = +0 and once from an acc
//               drawn near the product (ties, cancellation, carries);
//   random      +random=N steps (default 100000) in chains of 1..8 steps from random accs.
// Every step's acc and flags are checked against fp8sim_mac_step(acc_before, a, b), and at
// the end of every chain the accumulator and the OR of its flags against the whole dot
// product (fp8sim_dot_begin/push/end with C = the loaded value).
//
// Plusargs: +mutant=M (0 = the correct design; 1..4 the mutations of fp8_mac.sv), +seed=S,
// +random=N, +quiet; +vectors=FILE +config=NAME [+results=DUMP]: instead, only configuration
// NAME runs, on the cases of an `fp8sim vectors gen --op mac-step` file, its results written
// to DUMP as "INDEX RESULT FLAGS" (hex) for `fp8sim vectors check --vectors FILE DUMP`.
// Prints "N passed, N failed"; the exit status is non-zero on any failure (tb_main.cpp).
/* verilator lint_off DECLFILENAME */
/* verilator lint_off UNUSEDSIGNAL */  // testbench: partly used words and flags
module tb_fp8_mac;
  logic clk = 1'b0;
  initial forever #5 clk = ~clk;

  logic [2:0] done;
  int unsigned passed[3], failed[3];

  tb_fp8_mac_cfg #(.EA(5), .MA(2), .FN(1'b0), .EC(8), .MC(23), .SPEC("ab=e5m2,acc=fp32,round=rne"),
                   .NAME("e5m2-fp32")) cfg0 (.clk, .done(done[0]), .passed(passed[0]),
                                               .failed(failed[0]));
  tb_fp8_mac_cfg #(.EA(4), .MA(3), .FN(1'b1), .EC(8), .MC(23),
                   .SPEC("ab=e4m3fn,acc=fp32,round=rne"), .NAME("e4m3fn-fp32")) cfg1 (
      .clk, .done(done[1]), .passed(passed[1]), .failed(failed[1]));
  tb_fp8_mac_cfg #(.EA(5), .MA(2), .FN(1'b0), .EC(5), .MC(10), .SPEC("ab=e5m2,acc=fp16,round=rne"),
                   .NAME("e5m2-fp16")) cfg2 (.clk, .done(done[2]), .passed(passed[2]),
                                               .failed(failed[2]));

  initial begin
    int unsigned p, f;
    wait (&done);
    p = passed[0] + passed[1] + passed[2];
    f = failed[0] + failed[1] + failed[2];
    $display("tb_fp8_mac: %0d passed, %0d failed", p, f);
    fp8sim_dpi_pkg::tb_exit_status(f != 0 ? 1 : 0);
    $finish;
  end
endmodule

module tb_fp8_mac_cfg #(
    parameter int EA = 5,
    parameter int MA = 2,
    parameter bit FN = 1'b0,
    parameter int EC = 8,
    parameter int MC = 23,
    parameter string SPEC = "ab=e5m2,acc=fp32,round=rne",
    parameter string NAME = "e5m2-fp32"
) (
    input  logic        clk,
    output logic        done,
    output int unsigned passed,
    output int unsigned failed
);
  import fp8sim_dpi_pkg::*;

  localparam int WA = 1 + EA + MA;
  localparam int WC = 1 + EC + MC;
  localparam int NMUT = 5;  // fp8_mac.sv: MUTATION 0 (correct) .. 4
  localparam int BIAS_A = 2 ** (EA - 1) - 1;
  localparam int BIAS_C = 2 ** (EC - 1) - 1;

  // ---- the design, and every mutation of it, on the same inputs --------------------------
  logic rst_n = 1'b0, load = 1'b0, valid = 1'b0;
  logic [WC-1:0] load_value = '0;
  logic [WA-1:0] a = '0, b = '0;
  logic [WC-1:0] acc_m[NMUT];
  logic [4:0] flags_m[NMUT], sticky_m[NMUT];
  for (genvar m = 0; m < NMUT; m++) begin : g_dut
    fp8_mac #(.EA(EA), .MA(MA), .FN(FN), .EC(EC), .MC(MC), .MUTATION(m)) dut (
        .clk, .rst_n, .load, .load_value, .valid, .a, .b, .acc(acc_m[m]), .flags(flags_m[m]),
        .flags_sticky(sticky_m[m]));
  end
  int mutant = 0;
  logic [WC-1:0] acc;
  logic [4:0] flags, sticky;
  assign acc = acc_m[mutant];
  assign flags = flags_m[mutant];
  assign sticky = sticky_m[mutant];

  // ---- state of the run -------------------------------------------------------------------
  chandle h_step, h_dot;
  Rng rng;
  bit quiet = 0;
  longint unsigned n_step = 0, n_chain = 0;
  int unsigned shown = 0;
  // coverage: steps whose golden flags had each bit; golden results by class
  int unsigned cov_nx = 0, cov_uf = 0, cov_of = 0, cov_nv = 0;
  int unsigned cov_nan = 0, cov_inf = 0, cov_zero = 0, cov_sub = 0;
  logic [WA-1:0] in_corners[$];
  logic [WC-1:0] acc_corners[$];

  function automatic void fail(string what);
    failed++;
    if (!quiet && shown < 10) $display("FAIL %s: %s", NAME, what);
    shown++;
  endfunction

  // ---- one load and one MAC step, each checked ------------------------------------------
  task automatic start_chain(input logic [WC-1:0] c0);
    load = 1'b1;
    load_value = c0;
    @(posedge clk);
    #1 load = 1'b0;
    fp8sim_dot_begin(h_dot, 64'(c0), 1, 0, n_chain);
  endtask

  task automatic mac(input logic [WA-1:0] av, input logic [WA-1:0] bv);
    logic [WC-1:0] acc_in, want;
    int unsigned wflags;
    acc_in = acc;
    a = av;
    b = bv;
    valid = 1'b1;
    @(posedge clk);
    #1 valid = 1'b0;
    want = WC'(fp8sim_mac_step(h_step, 64'(acc_in), 64'(av), 64'(bv), 0, wflags));
    fp8sim_dot_push(h_dot, 64'(av), 64'(bv));
    cov_nx += wflags & 1;
    cov_uf += (wflags >> 1) & 1;
    cov_of += (wflags >> 2) & 1;
    cov_nv += (wflags >> 4) & 1;
    if (&want[MC+:EC]) begin
      if (want[MC-1:0] != 0) cov_nan++;
      else cov_inf++;
    end else if (want[MC+:EC] == 0) begin
      if (want[MC-1:0] == 0) cov_zero++;
      else cov_sub++;
    end
    if (acc === want && 32'(flags) == wflags) passed++;
    else
      fail($sformatf("step %0d: acc %h + %h * %h: rtl %h flags %02h, fp8sim %h flags %02h", n_step,
                     acc_in, av, bv, acc, flags, want, wflags));
    n_step++;
  endtask

  task automatic end_chain();
    logic [WC-1:0] want;
    int unsigned wflags;
    want = WC'(fp8sim_dot_end(h_dot, wflags));
    if (acc === want && 32'(sticky) == wflags) passed++;
    else
      fail($sformatf("chain %0d: rtl %h flags %02h, fp8sim dot product %h flags %02h", n_chain, acc,
                     sticky, want, wflags));
    n_chain++;
  endtask

  task automatic one_step(input logic [WC-1:0] c0, input logic [WA-1:0] av,
                          input logic [WA-1:0] bv);
    start_chain(c0);
    mac(av, bv);
    end_chain();
  endtask

  // ---- vectors mode: the cases of an `fp8sim vectors gen` file (kind mac-step) ----------
  // Each line "A B ACC_IN ACC_OUT FLAGS" (hex) is one step from a load of ACC_IN, checked
  // against the file's result and the golden model; the design's results are written to
  // `res_file` as "INDEX RESULT FLAGS" (hex), the dump `fp8sim vectors check` reads.
  task automatic run_vectors(input string vec_file, input string res_file);
    int vfd, rfd = 0, n;
    string line;
    logic [WA-1:0] av, bv;
    logic [WC-1:0] cin, want;
    logic [7:0] wflags;
    longint unsigned index = 0;
    vfd = $fopen(vec_file, "r");
    if (vfd == 0) $fatal(1, "%s: cannot read %s", NAME, vec_file);
    if (res_file != "") begin
      rfd = $fopen(res_file, "w");
      if (rfd == 0) $fatal(1, "%s: cannot write %s", NAME, res_file);
    end
    while ($fgets(line, vfd) != 0) begin
      if (line.len() == 0 || line[0] == "#" || line[0] == "\n") continue;
      n = $sscanf(line, "%h %h %h %h %h", av, bv, cin, want, wflags);
      if (n != 5)
        $fatal(1, "%s: %s: case %0d: %0d fields, a mac-step case here has 5 (a b acc_in acc_out flags)",
               NAME, vec_file, index, n);
      one_step(cin, av, bv);
      if (acc === want && flags == wflags[4:0]) passed++;
      else
        fail($sformatf("vector case %0d: acc %h + %h * %h: rtl %h flags %02h, file %h flags %02h",
                       index, cin, av, bv, acc, flags, want, wflags));
      if (rfd != 0) $fdisplay(rfd, "%0h %h %02h", index, acc, flags);
      index++;
    end
    $fclose(vfd);
    if (rfd != 0) $fclose(rfd);
    if (index == 0) $fatal(1, "%s: %s holds no cases", NAME, vec_file);
  endtask

  // ---- stimulus ---------------------------------------------------------------------------
  function automatic logic [WC-1:0] acc_code(logic s, int e, logic [MC-1:0] f);
    // a normal number 1.f * 2^e, clamped to the finite range (below it: a subnormal)
    int be = e + BIAS_C;
    if (be >= 2 ** EC - 1) be = 2 ** EC - 2;
    if (be <= 0) return {s, {EC{1'b0}}, f >> (1 - be)};
    return {s, EC'(be), f};
  endfunction

  function automatic logic [MC-1:0] rand_frac();
    logic [MC-1:0] f = MC'(rng.next());
    case (rng.below(6))
      0: f = '1;
      1: f = '0;
      2: f = f & ~MC'((64'(1) << rng.below(MC)) - 1);  // trailing zeros
      3: f = f | MC'((64'(1) << rng.below(MC)) - 1);  // trailing ones
      default: ;
    endcase
    return f;
  endfunction

  function automatic int in_exp(logic [EA-1:0] ef);  // the exponent field's exponent
    return (ef == 0 ? 1 : int'(ef)) - BIAS_A;
  endfunction

  function automatic logic [WA-1:0] rand_in();
    if (rng.below(100) < 15) return in_corners[rng.below(in_corners.size())];
    return WA'(rng.next());
  endfunction

  // an accumulator value for a step with inputs a, b: mostly near the product's magnitude
  function automatic logic [WC-1:0] rand_acc(logic [WA-1:0] av, logic [WA-1:0] bv);
    int ep = in_exp(av[MA+:EA]) + in_exp(bv[MA+:EA]);
    int unsigned r = rng.below(100);
    logic s = rng.next() >= 64'h8000_0000_0000_0000;
    if (r < 12) return acc_corners[rng.below(acc_corners.size())];
    if (r < 30) return WC'(rng.next());
    if (r < 45) begin  // its last bits where the product's are: ties and carries
      return acc_code(s, ep + MC - 2 * MA + 1 + int'(rng.below(2 * MA + 3)), rand_frac());
    end
    if (r < 60) begin  // the negated product, a few ulps off: cancellation
      int unsigned unused_flags;
      logic [WC-1:0] p = WC'(fp8sim_mac_step(h_step, 0, 64'(av), 64'(bv), 0, unused_flags));
      if (&p[MC+:EC]) return p;  // NaN or Inf
      return {~p[WC-1], p[WC-2:0] + (WC - 1)'(rng.below(5)) - (WC - 1)'(2)};
    end
    return acc_code(s, ep - MC - 6 + int'(rng.below(2 * MC + 12)), rand_frac());
  endfunction

  function automatic void make_corners();
    logic [WA-1:0] v[$];
    logic [WC-1:0] w[$];
    logic [WA-2:0] ones = '1;
    v = '{0, 1, WA'(2 ** MA - 1), WA'(2 ** MA), WA'(BIAS_A << MA)};
    if (FN) begin
      v.push_back({1'b0, ones - 1'b1});  // max finite (e4m3fn: 448)
      v.push_back({1'b0, ones});  // the NaN
    end else begin
      v.push_back(WA'(((2 ** EA - 2) << MA) | (2 ** MA - 1)));  // max finite
      v.push_back(WA'((2 ** EA - 1) << MA));  // Inf
      v.push_back(WA'(((2 ** EA - 1) << MA) | 1));  // signalling NaN
      v.push_back(WA'(((2 ** EA - 1) << MA) | (2 ** (MA - 1))));  // quiet NaN
    end
    foreach (v[i]) begin
      in_corners.push_back(v[i]);
      in_corners.push_back({1'b1, v[i][WA-2:0]});
    end
    w = '{0, 1, WC'(2 ** MC - 1), WC'(2 ** MC), WC'(BIAS_C << MC), WC'((BIAS_C << MC) | 1),
          WC'(((2 ** EC - 2) << MC) | (2 ** MC - 1)), WC'(((2 ** EC - 2) << MC) | (2 ** MC - 2)),
          WC'((2 ** EC - 1) << MC), WC'(((2 ** EC - 1) << MC) | 1),
          WC'(((2 ** EC - 1) << MC) | (2 ** (MC - 1)))};
    foreach (w[i]) begin
      acc_corners.push_back(w[i]);
      acc_corners.push_back({1'b1, w[i][WC-2:0]});
    end
  endfunction

  // ---- the built-in cases ------------------------------------------------------------
  task automatic run_builtin(input int unsigned n_random);
    // corners: every (a, b, acc)
    for (int i = 0; i < in_corners.size(); i++) begin : corners
      for (int j = 0; j < in_corners.size(); j++)
        for (int k = 0; k < acc_corners.size(); k++)
          one_step(acc_corners[k], in_corners[i], in_corners[j]);
    end
    // exhaustive: every (a, b), from +0 and from an acc near the product
    for (int i = 0; i < 2 ** WA; i++) begin : exhaustive
      for (int j = 0; j < 2 ** WA; j++) begin
        one_step('0, WA'(i), WA'(j));
        one_step(rand_acc(WA'(i), WA'(j)), WA'(i), WA'(j));
      end
    end
    // random chains
    for (int unsigned n = 0; n < n_random;) begin
      logic [WA-1:0] av = rand_in(), bv = rand_in();
      int unsigned len = (rng.below(2) == 0) ? 1 : 2 + rng.below(7);
      start_chain(rand_acc(av, bv));
      mac(av, bv);
      for (int unsigned k = 1; k < len; k++) mac(rand_in(), rand_in());
      end_chain();
      n += len;
    end

  endtask

  initial begin
    longint unsigned seed = 1;
    int unsigned n_random = 100000;
    string vec_file, res_file, cfg_sel;
    done = 1'b0;
    passed = 0;
    failed = 0;
    void'($value$plusargs("mutant=%d", mutant));
    void'($value$plusargs("seed=%d", seed));
    void'($value$plusargs("random=%d", n_random));
    quiet = $test$plusargs("quiet");
    if (mutant < 0 || mutant >= NMUT) $fatal(1, "+mutant=%0d: allowed 0..%0d", mutant, NMUT - 1);
    rng = new(seed ^ (64'(EA) << 8) ^ 64'(EC));
    h_step = fp8sim_mac_new(SPEC);
    h_dot = fp8sim_mac_new(SPEC);
    if (h_step == null || h_dot == null) $fatal(1, "fp8sim_mac_new(%s): %s", SPEC, fp8sim_last_error());
    if (fp8sim_mac_width(h_step, "a") != WA || fp8sim_mac_width(h_step, "acc") != WC)
      $fatal(1, "%s: fp8sim's widths differ from the design's", SPEC);
    make_corners();

    repeat (2) @(posedge clk);
    #1 rst_n = 1'b1;

    if ($value$plusargs("vectors=%s", vec_file)) begin
      // +vectors=FILE +config=NAME [+results=DUMP]: only that configuration runs, on FILE
      if (!$value$plusargs("config=%s", cfg_sel))
        $fatal(1, "+vectors needs +config=NAME (e5m2-fp32, e4m3fn-fp32, e5m2-fp16)");
      if (!$value$plusargs("results=%s", res_file)) res_file = "";
      if (cfg_sel == NAME) begin
        run_vectors(vec_file, res_file);
        $display("tb_fp8_mac %-12s %s, mutant %0d: %0d vector cases: %0d passed, %0d failed",
                 NAME, SPEC, mutant, n_step, passed, failed);
      end
    end else begin
      run_builtin(n_random);
      $display("tb_fp8_mac %-12s %s, mutant %0d: %0d steps, %0d chains: %0d passed, %0d failed",
               NAME, SPEC, mutant, n_step, n_chain, passed, failed);
      if (!quiet)
        $display("  %-12s golden flags: inexact %0d, underflow %0d, overflow %0d, invalid %0d;",
                 NAME, cov_nx, cov_uf, cov_of, cov_nv,
                 " results: NaN %0d, Inf %0d, zero %0d, subnormal %0d", cov_nan, cov_inf, cov_zero,
                 cov_sub);
    end
    fp8sim_mac_free(h_step);
    fp8sim_mac_free(h_dot);
    done = 1'b1;
  end
endmodule
