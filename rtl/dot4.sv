// rtl/dot4.sv — an example 4-term fused dot-product unit: the NVIDIA V100 tensor core in
// fp16 -> fp32 mode, as measured (fp8sim preset "v100-fp16-fp32", also "tensorcore-v100"):
//
//   ab=fp16,acc=fp32,round=rtz,struct=multiterm:4:23:2,align=field,nan=canonical
//
// Each cycle: d <= sum(a[i]*b[i], i = 0..3) + C in one fused step, where C is the input c
// or, with `chain`, the previous d (so K = 4g products take g cycles, exactly how the preset
// chains groups of 4 through its accumulator). What it computes (docs/mac-semantics.md,
// multiterm with align=field; docs/gpu-presets.md):
//   1. products exact (fp16 x fp16: 22-bit significands);
//   2. every non-zero term has an alignment exponent: a product a*b the sum of its inputs'
//      exponent fields e(a) + e(b) (the unbiased exponent; emin = -14 for a subnormal), its
//      significand left unnormalised in [1,4) (or below 1 with a subnormal input); C its
//      leading bit. R = the largest of them;
//   3. every term is truncated toward zero (sign-magnitude) to a multiple of 2^(R-23);
//   4. the truncated terms are summed exactly (a 29-bit signed adder: 4 terms < 2^25 units,
//      C < 2^24 units), and the sum is normalised and rounded toward zero into fp32
//      (subnormal results included; an overflow would give +-max finite, though fp16 products
//      cannot reach it);
//   5. flags (TestFloat bits): inexact (0x01) when the rounding or a truncation dropped
//      non-zero bits; underflow (0x02) when the rounding is inexact and the result tiny;
//      overflow (0x04); invalid (0x10) for a signalling NaN input, 0*Inf, or +Inf meeting -Inf;
//   6. any NaN (input, 0*Inf, Inf-Inf) gives NVIDIA's canonical NaN 7FFFFFFF; otherwise an
//      infinity wins; a zero sum of non-zero terms is +0; all-zero terms give -0 only when
//      every one is -0.
//
// MUTATION (0 = correct) selects a deliberately broken variant for the mutation check:
//   1 alignment one bit short: terms truncated to multiples of 2^(R-22)
//   2 sticky dropped: bits lost in the alignment not reported as inexact
//   3 subnormal inputs flushed to zero (a and b; C as it is)
//   4 aligned to the products' leading bits instead of their exponent fields
//   5 the sum rounded to nearest even instead of toward zero
module dot4 #(
    parameter int MUTATION = 0,
    localparam int N = 4,    // products per group
    localparam int EI = 5,   // fp16 inputs
    localparam int MI = 10,
    localparam int EC = 8,   // fp32 accumulator / result
    localparam int MC = 23,
    localparam int WI = 1 + EI + MI,
    localparam int WC = 1 + EC + MC
) (
    input  logic                  clk,
    input  logic                  rst_n,
    input  logic                  valid,         // d <= dot(a, b) + (chain ? d : c)
    input  logic                  chain,
    input  logic [N-1:0][WI-1:0] a,
    input  logic [N-1:0][WI-1:0] b,
    input  logic [WC-1:0]         c,
    output logic [WC-1:0]         d,
    output logic [   4:0]         flags,         // flags of the last operation
    output logic [   4:0]         flags_sticky   // OR since the last operation without chain
);
  localparam int ALIGN = (MUTATION == 1) ? 22 : 23;  // bits kept below R
  localparam bit NO_STICKY = (MUTATION == 2);
  localparam bit FLUSH = (MUTATION == 3);
  localparam bit ALIGN_LEAD = (MUTATION == 4);
  localparam bit NEAREST = (MUTATION == 5);

  localparam int XW = 16;  // signed exponent width
  localparam int PI = MI + 1;  // input significand bits
  localparam int PP = 2 * PI;  // product significand bits
  localparam int PC = MC + 1;
  localparam int MW = ALIGN + 2;  // a truncated term, in units of 2^(R-ALIGN): < 2^(ALIGN+2)
  localparam int SW = MW + $clog2(N + 1) + 1;  // the signed sum of N products and C
  localparam int WIDE = PP + ALIGN + 2;  // a term before it is cut to MW bits
  localparam int EMIN = -126, EMAX = 127;

  logic [WC-1:0] c_in;
  assign c_in = chain ? d : c;

  // ---- 1. Unpack --------------------------------------------------------------------------
  logic [N-1:0] a_sign, a_zero, a_inf, a_nan, a_snan, b_sign, b_zero, b_inf, b_nan, b_snan;
  logic [PI-1:0] a_sig[N], b_sig[N];
  logic signed [XW-1:0] a_exp[N], b_exp[N];
  logic c_sign, c_zero, c_inf, c_nan, c_snan;
  logic [PC-1:0] c_sig;
  logic signed [XW-1:0] c_exp;

  for (genvar i = 0; i < N; i++) begin : g_unpack
    fp_unpack #(.E(EI), .M(MI), .FN(1'b0), .FLUSH(FLUSH), .XW(XW)) ua (
        .x(a[i]), .sign(a_sign[i]), .zero(a_zero[i]), .inf(a_inf[i]), .nan(a_nan[i]),
        .snan(a_snan[i]), .sig(a_sig[i]), .exp(a_exp[i]));
    fp_unpack #(.E(EI), .M(MI), .FN(1'b0), .FLUSH(FLUSH), .XW(XW)) ub (
        .x(b[i]), .sign(b_sign[i]), .zero(b_zero[i]), .inf(b_inf[i]), .nan(b_nan[i]),
        .snan(b_snan[i]), .sig(b_sig[i]), .exp(b_exp[i]));
  end
  fp_unpack #(.E(EC), .M(MC), .FN(1'b0), .FLUSH(1'b0), .XW(XW)) uc (
      .x(c_in), .sign(c_sign), .zero(c_zero), .inf(c_inf), .nan(c_nan), .snan(c_snan),
      .sig(c_sig), .exp(c_exp));

  // ---- 2. Exact products, their field exponents, and C's leading bit --------------------
  // product i = p_sig[i] * 2^(p_fld[i] - 2*MI)
  logic [N-1:0] p_sign, p_zero;
  logic [PP-1:0] p_sig[N];
  logic signed [XW-1:0] p_fld[N], p_ref[N];
  logic [$clog2(PP+1)-1:0] p_lz[N];
  for (genvar i = 0; i < N; i++) begin : g_product
    assign p_sign[i] = a_sign[i] ^ b_sign[i];
    assign p_zero[i] = a_zero[i] | b_zero[i];
    assign p_sig[i] = PP'(a_sig[i]) * PP'(b_sig[i]);
    assign p_fld[i] = a_exp[i] + b_exp[i];
    lzc #(.W(PP)) lz (.x(p_sig[i]), .n(p_lz[i]));
    // the exponent the product is aligned by: its field (the unit), or (mutation) its
    // leading bit, which is one higher when the significand is >= 2
    assign p_ref[i] = ALIGN_LEAD ? p_fld[i] + XW'(1) - XW'(p_lz[i]) : p_fld[i];
  end
  logic [$clog2(PC+1)-1:0] c_lz;
  logic signed [XW-1:0] c_lead;
  lzc #(.W(PC)) lzc_c (.x(c_sig), .n(c_lz));
  assign c_lead = c_exp - XW'(c_lz);

  // ---- 3. R: the largest alignment exponent of the non-zero terms -------------------------
  logic signed [XW-1:0] r;
  logic any_term;
  always_comb begin
    any_term = ~c_zero;
    r = c_lead;
    for (int i = 0; i < N; i++) begin
      if (!p_zero[i] && (!any_term || p_ref[i] > r)) r = p_ref[i];
      any_term = any_term | ~p_zero[i];
    end
  end

  // ---- 4. Align: each term in units of 2^(R-ALIGN), truncated toward zero -----------------
  // shift left by k >= 0 (exact) or right by -k (bits dropped)
  logic signed [XW-1:0] k_p[N], k_c;
  logic [WIDE-1:0] t_p_wide[N], t_c_wide;
  logic [PP-1:0] t_p_shr[N];
  logic [PC-1:0] t_c_shr;
  logic [N-1:0] drop_p, drop_pr;
  logic drop_c;
  logic [MW-1:0] t_p[N], t_c;
  for (genvar i = 0; i < N; i++) begin : g_align
    assign k_p[i] = p_fld[i] - r + XW'(ALIGN - 2 * MI);
    shr_sticky #(.W(PP), .SW(XW)) shift (
        .x(p_sig[i]), .sh(XW'(-k_p[i])), .y(t_p_shr[i]), .sticky(drop_pr[i]));
    assign t_p_wide[i] = (k_p[i] >= 0) ? WIDE'(p_sig[i]) << k_p[i] : WIDE'(t_p_shr[i]);
    assign drop_p[i] = (k_p[i] < 0) & drop_pr[i];
    assign t_p[i] = p_zero[i] ? '0 : t_p_wide[i][MW-1:0];
  end
  assign k_c = c_exp - r + XW'(ALIGN - MC);
  shr_sticky #(.W(PC), .SW(XW)) sh_c (
      .x(c_sig), .sh(XW'(-k_c)), .y(t_c_shr), .sticky(drop_c));
  assign t_c_wide = (k_c >= 0) ? WIDE'(c_sig) << k_c : WIDE'(t_c_shr);
  assign t_c = c_zero ? '0 : t_c_wide[MW-1:0];

  logic truncated;
  assign truncated = (|drop_p) | ((k_c < 0) & drop_c);

  // ---- 5. Sum exactly (sign-magnitude terms into a two's-complement adder) ---------------
  logic signed [SW-1:0] sum;
  always_comb begin
    sum = c_sign ? -$signed(SW'(t_c)) : $signed(SW'(t_c));
    for (int i = 0; i < N; i++)
      sum = p_sign[i] ? sum - $signed(SW'(t_p[i])) : sum + $signed(SW'(t_p[i]));
  end

  // ---- 6. Normalise and round toward zero into fp32 -------------------------------------
  logic s_neg, s_zero;
  logic [SW-1:0] mag;
  logic [$clog2(SW+1)-1:0] s_lz;
  logic signed [XW-1:0] e, e_top, n_drop;
  logic [SW-1:0] kept_shr;
  logic [SW-1:0] kept_all;
  logic round_drop, round_drop_raw, ovf, tiny;
  logic [EC-1:0] be;
  assign s_neg = sum[SW-1];
  assign mag = s_neg ? SW'(-sum) : SW'(sum);
  assign s_zero = (sum == '0);
  lzc #(.W(SW)) lzc_s (.x(mag), .n(s_lz));
  // leading bit of the sum: 2^(SW-1-s_lz) units of 2^(R-ALIGN)
  assign e = r + XW'(SW - 1 - ALIGN) - XW'(s_lz);
  assign e_top = (e < XW'(EMIN)) ? XW'(EMIN) : e;  // the quantum is 2^(e_top - MC)
  assign n_drop = e_top - XW'(MC) - r + XW'(ALIGN);  // sum bits below the quantum
  shr_sticky #(.W(SW), .SW(XW)) sh_round (
      .x(mag), .sh(n_drop > 0 ? n_drop : '0), .y(kept_shr), .sticky(round_drop_raw));
  assign kept_all = (n_drop > 0) ? kept_shr : mag << XW'(-n_drop);
  assign round_drop = (n_drop > 0) & round_drop_raw;
  assign ovf = (e > XW'(EMAX));
  assign tiny = (e < XW'(EMIN));  // toward zero: tiny before and after rounding agree
  assign be = tiny ? '0 : EC'(e - XW'(EMIN) + XW'(1));

  // (mutation 5 only) round to nearest even: the guard bit and the sticky below it
  logic [SW-1:0] g_shr;
  logic g_st, near_inc;
  logic [EC+MC-1:0] packed_r;
  shr_sticky #(.W(SW), .SW(XW)) sh_guard (
      .x(mag), .sh(n_drop > 0 ? n_drop - XW'(1) : '0), .y(g_shr), .sticky(g_st));
  assign near_inc = NEAREST & (n_drop > 0) & g_shr[0] & (g_st | kept_all[0]);
  assign packed_r = {be, kept_all[MC-1:0]} + (EC + MC)'(near_inc);

  logic unused;  // leading bits known to be zero, bits consumed elsewhere
  assign unused = ^{kept_all[SW-1:MC], t_p_wide[0], t_p_wide[1], t_p_wide[2], t_p_wide[3],
                    t_c_wide, e[XW-1:EC], g_shr[SW-1:1]};

  // ---- 7. Specials, zeros, and the result -------------------------------------------------
  logic [N-1:0] inv_mul, p_nan, p_inf;
  logic any_nan, pinf, ninf;
  assign inv_mul = (a_inf & b_zero) | (a_zero & b_inf);
  assign p_nan = a_nan | b_nan | inv_mul;
  assign p_inf = (a_inf | b_inf) & ~p_nan;
  assign any_nan = (|p_nan) | c_nan;
  assign pinf = (|(p_inf & ~p_sign)) | (c_inf & ~c_sign);
  assign ninf = (|(p_inf & p_sign)) | (c_inf & c_sign);

  logic [WC-1:0] result;
  logic [4:0] op_flags;
  always_comb begin
    op_flags = '0;
    op_flags[4] = (|a_snan) | (|b_snan) | c_snan | (|inv_mul) | (~any_nan & pinf & ninf);
    if (any_nan | (pinf & ninf)) begin
      result = {1'b0, {EC{1'b1}}, {MC{1'b1}}};  // NVIDIA's canonical NaN
    end else if (pinf | ninf) begin
      result = {ninf, {EC{1'b1}}, {MC{1'b0}}};
    end else if (!any_term) begin
      result = {(&(p_sign | ~p_zero)) & c_sign, {(EC + MC) {1'b0}}};  // -0 iff all are -0
    end else if (s_zero) begin
      result = '0;  // +0
      op_flags[0] = truncated & ~NO_STICKY;
    end else if (ovf) begin
      result = {s_neg, {(EC - 1) {1'b1}}, 1'b0, {MC{1'b1}}};  // toward zero: +-max finite
      op_flags[2] = 1'b1;
      op_flags[0] = 1'b1;
    end else begin
      result = {s_neg, packed_r};
      op_flags[0] = round_drop | (truncated & ~NO_STICKY);
      op_flags[1] = round_drop & tiny;
    end
  end

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      d <= '0;
      flags <= '0;
      flags_sticky <= '0;
    end else if (valid) begin
      d <= result;
      flags <= op_flags;
      flags_sticky <= (chain ? flags_sticky : 5'b0) | op_flags;
    end
  end
endmodule
