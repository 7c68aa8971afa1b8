// rtl/tb/tb_dot4.sv — Verilator testbench of rtl/dot4.sv (the V100 fp16 -> fp32 tensor-core
// unit) against fp8sim's golden model for preset "v100-fp16-fp32", through DPI-C.
//
// Cases (each one dot4 operation, d = a.b + C, checked against fp8sim_dot_begin/push/end):
//   probes      the Fasi et al. 2021 probes of tests/unit/test_fasi_probes.cpp, each also
//               against its hand-derived result;
//   corners     every (a0, b0, C) of the corner lists, the other lanes zero, and every
//               (a0, b0) pair of corners against C and a third lane of each sign;
//   exhaustive  every fp16 code in lane 0 (twice: once against a random partner), the other
//               lanes and C near it in magnitude;
//   random      +random=N operations (default 100000) in chains of 1..4 groups (C = the
//               previous result, as the preset chains groups of 4), terms close enough in
//               exponent that truncation, cancellation and carries matter; 3% specials.
// Each chain is also checked as one dot product of 4g products against the golden model.
// Plusargs: +mutant=M (0 = correct, 1..5 the mutations of dot4.sv), +seed=S, +random=N,
// +quiet; +vectors=FILE [+results=DUMP]: instead, the cases of an `fp8sim vectors gen` file
// (kind dot, 4 terms), the design's results written to DUMP as "INDEX RESULT FLAGS" (hex). Prints "N passed, N failed"; the exit status is non-zero on any failure.
/* verilator lint_off DECLFILENAME */
/* verilator lint_off UNUSEDSIGNAL */  // testbench: partly used words and flags
module tb_dot4;
  import fp8sim_dpi_pkg::*;

  localparam string SPEC = "v100-fp16-fp32";
  localparam string SPEC_TEXT =
      "ab=fp16,acc=fp32,round=rtz,struct=multiterm:4:23:2,align=field,nan=canonical";
  localparam int N = 4, WI = 16, WC = 32, NMUT = 6;

  logic clk = 1'b0;
  initial forever #5 clk = ~clk;

  // ---- the design and its mutations on the same inputs ------------------------------------
  logic rst_n = 1'b0, valid = 1'b0, chain = 1'b0;
  logic [N-1:0][WI-1:0] a = '0, b = '0;
  logic [WC-1:0] c = '0;
  logic [WC-1:0] d_m[NMUT];
  logic [4:0] flags_m[NMUT], sticky_m[NMUT];
  for (genvar m = 0; m < NMUT; m++) begin : g_dut
    dot4 #(.MUTATION(m)) dut (
        .clk, .rst_n, .valid, .chain, .a, .b, .c, .d(d_m[m]), .flags(flags_m[m]),
        .flags_sticky(sticky_m[m]));
  end
  int mutant = 0;
  logic [WC-1:0] d;
  logic [4:0] flags, sticky;
  assign d = d_m[mutant];
  assign flags = flags_m[mutant];
  assign sticky = sticky_m[mutant];

  chandle h_op, h_chain;
  Rng rng;
  bit quiet = 0;
  int unsigned passed = 0, failed = 0, shown = 0;
  longint unsigned n_op = 0, n_chain = 0;
  int unsigned cov_nx = 0, cov_uf = 0, cov_of = 0, cov_nv = 0;
  int unsigned cov_nan = 0, cov_inf = 0, cov_zero = 0, cov_sub = 0;
  logic [WI-1:0] in_corners[$];
  logic [WC-1:0] c_corners[$];

  function automatic void fail(string what);
    failed++;
    if (!quiet && shown < 10) $display("FAIL dot4: %s", what);
    shown++;
  endfunction

  // ---- one operation, checked; chains of them --------------------------------------------
  logic [WC-1:0] chain_c;
  task automatic op(input logic [N-1:0][WI-1:0] av, input logic [N-1:0][WI-1:0] bv,
                    input logic [WC-1:0] cv, input bit chained);
    logic [WC-1:0] c_eff, want;
    int unsigned wflags;
    c_eff = chained ? d : cv;
    if (!chained) begin
      chain_c = cv;
      fp8sim_dot_begin(h_chain, 64'(cv), 1, 0, n_chain);
    end
    a = av;
    b = bv;
    c = cv;
    chain = chained;
    valid = 1'b1;
    @(posedge clk);
    #1 valid = 1'b0;
    fp8sim_dot_begin(h_op, 64'(c_eff), 1, 0, n_op);
    for (int i = 0; i < N; i++) begin
      fp8sim_dot_push(h_op, 64'(av[i]), 64'(bv[i]));
      fp8sim_dot_push(h_chain, 64'(av[i]), 64'(bv[i]));
    end
    want = WC'(fp8sim_dot_end(h_op, wflags));
    cov_nx += wflags & 1;
    cov_uf += (wflags >> 1) & 1;
    cov_of += (wflags >> 2) & 1;
    cov_nv += (wflags >> 4) & 1;
    if (&want[30:23]) begin
      if (want[22:0] != 0) cov_nan++;
      else cov_inf++;
    end else if (want[30:23] == 0) begin
      if (want[22:0] == 0) cov_zero++;
      else cov_sub++;
    end
    if (d === want && 32'(flags) == wflags) passed++;
    else
      fail($sformatf("op %0d: C %h a %h b %h: rtl %h flags %02h, fp8sim %h flags %02h", n_op, c_eff,
                     av, bv, d, flags, want, wflags));
    n_op++;
  endtask

  task automatic end_chain();
    logic [WC-1:0] want;
    int unsigned wflags;
    want = WC'(fp8sim_dot_end(h_chain, wflags));
    if (d === want && 32'(sticky) == wflags) passed++;
    else
      fail($sformatf("chain %0d (C %h): rtl %h flags %02h, fp8sim dot product %h flags %02h", n_chain,
                     chain_c, d, sticky, want, wflags));
    n_chain++;
  endtask

  task automatic one_op(input logic [N-1:0][WI-1:0] av, input logic [N-1:0][WI-1:0] bv,
                        input logic [WC-1:0] cv);
    op(av, bv, cv, 1'b0);
    end_chain();
  endtask

  // a probe with its hand-derived result (tests/unit/test_fasi_probes.cpp), checked as well
  task automatic probe(input string name, input logic [N-1:0][WI-1:0] av,
                       input logic [N-1:0][WI-1:0] bv, input logic [WC-1:0] cv,
                       input logic [WC-1:0] want, input logic [4:0] wflags);
    one_op(av, bv, cv);
    if (d === want && flags == wflags) passed++;
    else fail($sformatf("probe %s: rtl %h flags %02h, by hand %h flags %02h", name, d, flags, want,
                        wflags));
  endtask

  // ---- vectors mode: the cases of an `fp8sim vectors gen` file (kind dot, 4 terms) -------
  // "A0 A1 A2 A3 B0 B1 B2 B3 C RESULT FLAGS" (hex), each checked against the file and the
  // golden model; the design's results go to `res_file` as "INDEX RESULT FLAGS" (hex).
  task automatic run_vectors(input string vec_file, input string res_file);
    int vfd, rfd = 0, n;
    string line;
    logic [N-1:0][WI-1:0] av, bv;
    logic [WI-1:0] a0, a1, a2, a3, b0, b1, b2, b3;
    logic [WC-1:0] cv, want;
    logic [7:0] wflags;
    longint unsigned index = 0;
    vfd = $fopen(vec_file, "r");
    if (vfd == 0) $fatal(1, "dot4: cannot read %s", vec_file);
    if (res_file != "") begin
      rfd = $fopen(res_file, "w");
      if (rfd == 0) $fatal(1, "dot4: cannot write %s", res_file);
    end
    while ($fgets(line, vfd) != 0) begin
      if (line.len() == 0 || line[0] == "#" || line[0] == "\n") continue;
      n = $sscanf(line, "%h %h %h %h %h %h %h %h %h %h %h", a0, a1, a2, a3, b0, b1, b2, b3, cv,
                  want, wflags);
      av = lanes(a0, a1, a2, a3);
      bv = lanes(b0, b1, b2, b3);
      if (n != 11)
        $fatal(1, "dot4: %s: case %0d: %0d fields, a 4-term dot case has 11 (a0..a3 b0..b3 c result flags)",
               vec_file, index, n);
      one_op(av, bv, cv);
      if (d === want && flags == wflags[4:0]) passed++;
      else
        fail($sformatf("vector case %0d: C %h a %h b %h: rtl %h flags %02h, file %h flags %02h",
                       index, cv, av, bv, d, flags, want, wflags));
      if (rfd != 0) $fdisplay(rfd, "%0h %h %02h", index, d, flags);
      index++;
    end
    $fclose(vfd);
    if (rfd != 0) $fclose(rfd);
    if (index == 0) $fatal(1, "dot4: %s holds no cases", vec_file);
  endtask

  // ---- stimulus ---------------------------------------------------------------------------
  // an fp16 code of exponent e (below -14: subnormal) with a random fraction
  function automatic logic [WI-1:0] half(logic s, int e);
    logic [9:0] f = 10'(rng.next());
    case (rng.below(5))
      0: f = '1;
      1: f = '0;
      2: f = f & ~10'((1 << rng.below(10)) - 1);
      default: ;
    endcase
    if (e > 15) e = 15;
    if (e < -14) return {s, 5'd0, f >> (-14 - e < 10 ? -14 - e : 10)};
    return {s, 5'(e + 15), f};
  endfunction

  function automatic logic [WC-1:0] single(logic s, int e);
    logic [22:0] f = 23'(rng.next());
    case (rng.below(5))
      0: f = '1;
      1: f = '0;
      2: f = f & ~23'((1 << rng.below(23)) - 1);
      default: ;
    endcase
    if (e > 127) e = 127;
    if (e < -126) return {s, 8'd0, e < -149 ? 23'd0 : f >> (-126 - e)};
    return {s, 8'(e + 127), f};
  endfunction

  function automatic logic rbit();
    return rng.next() >= 64'h8000_0000_0000_0000;
  endfunction

  // random products whose field exponents lie near t
  function automatic void rand_terms(int t, output logic [N-1:0][WI-1:0] av,
                                     output logic [N-1:0][WI-1:0] bv);
    for (int i = 0; i < N; i++) begin
      int ea = -14 + int'(rng.below(30));
      int spread = (rng.below(4) == 0) ? 30 : 4;
      int eb = t - ea - int'(rng.below(spread));
      if (eb < -24) eb = -24;
      if (rng.below(100) < 3) av[i] = in_corners[rng.below(in_corners.size())];
      else av[i] = half(rbit(), ea);
      if (rng.below(100) < 3) bv[i] = in_corners[rng.below(in_corners.size())];
      else bv[i] = half(rbit(), eb);
    end
  endfunction

  // C for products near t: corners, raw bits, near t, or the negated product sum
  function automatic logic [WC-1:0] rand_c(int t, logic [N-1:0][WI-1:0] av,
                                          logic [N-1:0][WI-1:0] bv);
    int unsigned r = rng.below(100);
    if (r < 8) return c_corners[rng.below(c_corners.size())];
    if (r < 18) return WC'(rng.next());
    if (r < 25) return '0;
    if (r < 45) begin
      int unsigned f;
      logic [WC-1:0] s;
      fp8sim_dot_begin(h_op, 0, 1, 0, 0);
      for (int i = 0; i < N; i++) fp8sim_dot_push(h_op, 64'(av[i]), 64'(bv[i]));
      s = WC'(fp8sim_dot_end(h_op, f));
      if (f[4] || &s[30:23]) return s;
      return {~s[31], s[30:0] + 31'(rng.below(7)) - 31'd3};
    end
    return single(rbit(), t + 3 - int'(rng.below(34)));
  endfunction

  function automatic void make_corners();
    logic [WI-1:0] v[$];
    logic [WC-1:0] w[$];
    v = '{16'h0000, 16'h0001, 16'h0003, 16'h03FF, 16'h0400, 16'h3C00, 16'h3BFF, 16'h3FFF,
          16'h7BFF, 16'h7C00, 16'h7C01, 16'h7E00, 16'h0C00};
    foreach (v[i]) begin
      in_corners.push_back(v[i]);
      in_corners.push_back({1'b1, v[i][14:0]});
    end
    w = '{32'h00000000, 32'h00000001, 32'h007FFFFF, 32'h00800000, 32'h3F800000, 32'h3F7FFFFF,
          32'h3F800001, 32'h7F7FFFFF, 32'h7F800000, 32'h7F800001, 32'h7FC00000, 32'h7FFFFFFF,
          32'h33800000, 32'h2B800000};
    foreach (w[i]) begin
      c_corners.push_back(w[i]);
      c_corners.push_back({1'b1, w[i][30:0]});
    end
  endfunction

  localparam logic [WI-1:0] H0 = 16'h0000, H1 = 16'h3C00, HM1 = 16'hBC00, H2 = 16'h4000;
  localparam logic [WI-1:0] HM2 = 16'hC000, H4 = 16'h4400, HHALF = 16'h3800, H1P5 = 16'h3E00;
  localparam logic [WI-1:0] H1P75 = 16'h3F00, H1P875 = 16'h3F80, HBELOW1 = 16'h3BFF;
  localparam logic [WI-1:0] H2M12 = 16'h0C00, H2M14 = 16'h0400, HM2M11 = 16'h9000;
  localparam logic [WI-1:0] HSUB1 = 16'h0001, HMSUB1 = 16'h8001, HSUB3 = 16'h0003;
  localparam logic [WI-1:0] HMSUB3 = 16'h8003;

  function automatic logic [N-1:0][WI-1:0] lanes(logic [WI-1:0] x0, logic [WI-1:0] x1,
                                                 logic [WI-1:0] x2, logic [WI-1:0] x3);
    return {x3, x2, x1, x0};
  endfunction

  // ---- the built-in cases ------------------------------------------------------------
  task automatic run_builtin(input int unsigned n_random);
    logic [N-1:0][WI-1:0] av, bv, av2, bv2;
    logic [N-1:0][WI-1:0] all1 = lanes(H1, H1, H1, H1);
    // probes (Fasi et al. 2021), with the results worked out by hand
    probe("A2", lanes(HSUB1, H0, H0, H0), lanes(H4, H0, H0, H0), 0, 32'h34800000, 0);
    probe("A3", '0, '0, 32'h00000001, 32'h00000001, 0);
    probe("A5a", lanes(H2M14, H0, H0, H0), lanes(HHALF, H0, H0, H0), 0, 32'h38000000, 0);
    probe("A5b", lanes(H2M14, H0, H0, H0), lanes(H1, H0, H0, H0), 32'hB8000000, 32'h38000000, 0);
    probe("B1a", lanes(HBELOW1, H0, H0, H0), lanes(HBELOW1, H0, H0, H0), 0, 32'h3F7FC004, 0);
    probe("B1b", lanes(HBELOW1, HBELOW1, HBELOW1, HBELOW1),
          lanes(HBELOW1, HBELOW1, HBELOW1, HBELOW1), 0, 32'h407FC004, 0);
    probe("B3", all1, lanes(HSUB1, HSUB1, HSUB1, HSUB1), 32'h3F800000, 32'h3F800000, 1);
    probe("C1", all1, lanes(H2, HSUB3, H0, H0), 0, 32'h40000000, 1);
    probe("C2", all1, lanes(HM2, HMSUB3, H0, H0), 0, 32'hC0000000, 1);
    probe("D1", lanes(H1, H0, H0, H0), lanes(H1, H0, H0, H0), 32'hBF7FFFFF, 32'h34000000, 1);
    probe("D2", all1, lanes(HSUB1, HSUB1, HSUB1, HSUB1), 32'h3F7FFFFF, 32'h3F800001, 1);
    probe("D3", lanes(H1, H1, H0, H0), lanes(H1, HMSUB1, H0, H0), 32'hBF7FFFFF, 32'h34000000, 1);
    probe("D4b", all1, lanes(H1, H1P5, H1P75, H1P875), 32'h3FF00000, 32'h41000000, 0);
    probe("D4c", all1, all1, 32'h3F800003, 32'h40A00000, 1);
    probe("D4d", all1, lanes(HM1, HM1, HM1, HM1), 32'hBF800003, 32'hC0A00000, 1);
    probe("field-a1", lanes(H1P5, H0, H0, H0), lanes(H1P5, H0, H0, H0), 32'hBF800001, 32'h3F9FFFFF,
          0);
    probe("field-a2", lanes(H1P5, H2M12, H0, H0), lanes(H1P5, HM2M11, H0, H0), 0, 32'h400FFFFF, 1);
    probe("field-b", lanes(HSUB1, H0, H0, H0), lanes(H1, H0, H0, H0), 32'h2B800000, 32'h33800000, 1);
    // "order": 8 products in two chained groups
    op(lanes(H2M12, H0, H0, H0), lanes(H2M12, H0, H0, H0), 0, 1'b0);
    op(lanes(H1, H1, H0, H0), lanes(H1, HM1, H0, H0), 0, 1'b1);
    end_chain();

    // corners: (a0, b0, C), the other lanes zero; then (a0, b0) with a third lane
    for (int i = 0; i < in_corners.size(); i++) begin : corners
      for (int j = 0; j < in_corners.size(); j++) begin
        for (int k = 0; k < c_corners.size(); k++)
          one_op(lanes(in_corners[i], H0, H0, H0), lanes(in_corners[j], H0, H0, H0), c_corners[k]);
        for (int k = 0; k < in_corners.size(); k++)
          one_op(lanes(in_corners[i], H0, in_corners[k], H0),
                 lanes(in_corners[j], H0, (k % 2 == 0) ? H1 : HM1, H0), 0);
      end
    end
    // exhaustive: every fp16 code in lane 0, twice
    for (int x = 0; x < 2 ** WI; x++) begin : exhaustive
      for (int rep = 0; rep < 2; rep++) begin
        int ex = (x[14:10] == 0) ? -14 : int'(x[14:10]) - 15;
        int t;
        av[0] = WI'(x);
        bv[0] = (rep == 0) ? H1 : half(rbit(), int'(rng.below(30)) - 14);
        t = ex + ((bv[0][14:10] == 0) ? -14 : int'(bv[0][14:10]) - 15);
        rand_terms(t, av2, bv2);
        av[3:1] = av2[3:1];
        bv[3:1] = bv2[3:1];
        one_op(av, bv, rand_c(t, av, bv));
      end
    end
    // random chains
    for (int unsigned n = 0; n < n_random;) begin
      int unsigned len = (rng.below(5) < 3) ? 1 : 2 + rng.below(3);
      for (int unsigned g = 0; g < len; g++) begin
        int t = int'(rng.below(50)) - 30;
        rand_terms(t, av, bv);
        op(av, bv, rand_c(t, av, bv), g != 0);
      end
      end_chain();
      n += len;
    end

  endtask

  initial begin
    longint unsigned seed = 1;
    int unsigned n_random = 100000;
    string vec_file, res_file;
    void'($value$plusargs("mutant=%d", mutant));
    void'($value$plusargs("seed=%d", seed));
    void'($value$plusargs("random=%d", n_random));
    quiet = $test$plusargs("quiet");
    if (mutant < 0 || mutant >= NMUT) $fatal(1, "+mutant=%0d: allowed 0..%0d", mutant, NMUT - 1);
    rng = new(seed);
    h_op = fp8sim_mac_new(SPEC);
    h_chain = fp8sim_mac_new(SPEC_TEXT);  // the same unit, by its text form
    if (h_op == null || h_chain == null) $fatal(1, "fp8sim_mac_new: %s", fp8sim_last_error());
    if (fp8sim_mac_width(h_op, "a") != WI || fp8sim_mac_width(h_op, "result") != WC)
      $fatal(1, "%s: fp8sim's widths differ from the design's", SPEC);
    if (!quiet) $display("tb_dot4: golden model %s = %s", SPEC, fp8sim_mac_spec(h_op));
    make_corners();
    repeat (2) @(posedge clk);
    #1 rst_n = 1'b1;

    if ($value$plusargs("vectors=%s", vec_file)) begin
      if (!$value$plusargs("results=%s", res_file)) res_file = "";
      run_vectors(vec_file, res_file);
    end else begin
      run_builtin(n_random);
    end
    $display("tb_dot4 %s (%s), mutant %0d: %0d operations, %0d chains: %0d passed, %0d failed", SPEC,
             SPEC_TEXT, mutant, n_op, n_chain, passed, failed);
    if (!quiet)
      $display("  golden flags: inexact %0d, underflow %0d, overflow %0d, invalid %0d;", cov_nx,
               cov_uf, cov_of, cov_nv, " results: NaN %0d, Inf %0d, zero %0d, subnormal %0d",
               cov_nan, cov_inf, cov_zero, cov_sub);
    $display("tb_dot4: %0d passed, %0d failed", passed, failed);
    fp8sim_mac_free(h_op);
    fp8sim_mac_free(h_chain);
    tb_exit_status(failed != 0 ? 1 : 0);
    $finish;
  end
endmodule
