// rtl/fp8_mac.sv — an example FP8 multiply-accumulate unit, written the way a designer
// would start one: one MAC per cycle, acc <= round(acc + a*b), the product exact, one
// rounding (a fused MAC).
//
// Golden model: fp8sim spec "ab=e5m2,acc=fp32,round=rne" (the default parameters; the
// structure is sequential, tininess after rounding: fp8sim's defaults). Other parameters
// give "ab=e4m3fn,acc=fp32,round=rne" (EA=4, MA=3, FN=1) or a narrower accumulator such as
// "ab=e5m2,acc=fp16,round=rne" (EC=5, MC=10), which the testbench also runs because only a
// narrow accumulator can overflow or underflow on FP8 products.
//
// What it computes (docs/mac-semantics.md, "The MAC unit", sequential):
//   * inputs a, b: FP8 codes, subnormals included; acc: an IEEE binary accumulator
//     (exponent EC, fraction MC bits), subnormals included;
//   * the product a*b is exact; acc + a*b is rounded once to nearest, ties to even;
//   * overflow gives +-Inf (flags overflow|inexact);
//   * underflow = inexact and tiny, tininess detected AFTER rounding (the value rounded with
//     an unbounded exponent range is below 2^emin), as x86, ARM and fp8sim's default;
//   * NaN in -> the accumulator's default NaN (negative quiet NaN, FFC00000 in fp32) out;
//     invalid for a signalling NaN input (a, b or acc), 0*Inf (even when acc is a NaN) and
//     Inf - Inf; otherwise an infinity passes through without flags;
//   * an exact zero sum of non-zero terms is +0; 0 + 0 is -0 only when both are -0.
//   * flags (Berkeley TestFloat bits): 0x01 inexact, 0x02 underflow, 0x04 overflow,
//     0x10 invalid.
//
// Datapath (one combinational cycle): unpack -> exact product -> normalise both addends to
// 1.F x 2^E -> order by magnitude -> align the smaller (shift right into a frame of MC
// fraction bits plus guard, round and sticky, the sticky the OR of every bit shifted below
// the round bit) -> add or subtract -> normalise (leading-zero count) -> denormalise when
// below the normal range -> round to nearest even -> pack, overflow to Inf.
//
// Why the frame is exact enough: with the sticky bit jammed into the last frame bit (round
// to odd) and the larger addend's last frame bit zero, the frame sum is the exact sum
// rounded to odd at >= MC+3 bits, and rounding that to MC+1 bits (or to the coarser
// subnormal grid) equals rounding the exact sum. When the exponents differ by 0 or 1
// nothing reaches the sticky bit and the subtraction is exact.
//
// MUTATION (0 = the correct design) selects a deliberately broken variant for the
// testbench's mutation check (rtl/run_mutations.sh); every one must make it fail:
//   1 ties away from zero instead of to even
//   2 sticky bit dropped: the aligned addend keeps guard and round bits, nothing below
//   3 subnormals flushed: subnormal a, b read as zero, tiny results flushed to +-0
//   4 overflow saturates to max finite instead of going to Inf
module fp8_mac #(
    parameter int EA = 5,          // input exponent bits (e5m2: 5; e4m3fn: 4)
    parameter int MA = 2,          // input fraction bits (e5m2: 2; e4m3fn: 3)
    parameter bit FN = 1'b0,       // input specials: 0 IEEE (e5m2), 1 OCP fn (e4m3fn)
    parameter int EC = 8,          // accumulator exponent bits (fp32: 8; fp16: 5)
    parameter int MC = 23,         // accumulator fraction bits (fp32: 23; fp16: 10)
    parameter int MUTATION = 0,
    localparam int WA = 1 + EA + MA,
    localparam int WC = 1 + EC + MC
) (
    input  logic          clk,
    input  logic          rst_n,
    input  logic          load,          // acc <= load_value (has priority over valid)
    input  logic [WC-1:0] load_value,
    input  logic          valid,         // acc <= round(acc + a*b)
    input  logic [WA-1:0] a,
    input  logic [WA-1:0] b,
    output logic [WC-1:0] acc,
    output logic [   4:0] flags,         // flags of the last MAC step
    output logic [   4:0] flags_sticky   // OR of the flags since the last load
);
  localparam bit TIES_AWAY = (MUTATION == 1);
  localparam bit NO_STICKY = (MUTATION == 2);
  localparam bit FLUSH = (MUTATION == 3);
  localparam bit SATURATE = (MUTATION == 4);

  localparam int XW = 16;  // signed exponent width: ample for every format here
  localparam int PA = MA + 1;  // input significand bits
  localparam int PP = 2 * PA;  // exact product significand bits
  localparam int PC = MC + 1;  // accumulator significand bits
  // Fraction bits of the alignment frame: at least MC + 3 (guard, round, sticky) and more
  // than the product's 2*MA + 1, so the larger addend's last frame bit is always zero.
  localparam int WF = (MC + 3 > 2 * MA + 2) ? MC + 3 : 2 * MA + 2;
  localparam int NF = WF + 2;  // the sum: carry bit, leading bit, WF fraction bits
  localparam int EMIN = 2 - 2 ** (EC - 1);  // accumulator emin = 1 - bias
  localparam logic [EC-1:0] EXP_ONES = '1;

  // ---- 1. Unpack ----------------------------------------------------------------------
  logic a_sign, a_zero, a_inf, a_nan, a_snan;
  logic b_sign, b_zero, b_inf, b_nan, b_snan;
  logic c_sign, c_zero, c_inf, c_nan, c_snan;
  logic [PA-1:0] a_sig, b_sig;
  logic [PC-1:0] c_sig;
  logic signed [XW-1:0] a_exp, b_exp, c_exp;

  fp_unpack #(.E(EA), .M(MA), .FN(FN), .FLUSH(FLUSH), .XW(XW)) unpack_a (
      .x(a), .sign(a_sign), .zero(a_zero), .inf(a_inf), .nan(a_nan), .snan(a_snan),
      .sig(a_sig), .exp(a_exp));
  fp_unpack #(.E(EA), .M(MA), .FN(FN), .FLUSH(FLUSH), .XW(XW)) unpack_b (
      .x(b), .sign(b_sign), .zero(b_zero), .inf(b_inf), .nan(b_nan), .snan(b_snan),
      .sig(b_sig), .exp(b_exp));
  fp_unpack #(.E(EC), .M(MC), .FN(1'b0), .FLUSH(1'b0), .XW(XW)) unpack_c (
      .x(acc), .sign(c_sign), .zero(c_zero), .inf(c_inf), .nan(c_nan), .snan(c_snan),
      .sig(c_sig), .exp(c_exp));

  // ---- 2. Exact product: p = p_sig * 2^(p_exp - 2*MA) ------------------------------------
  logic          p_sign, p_zero;
  logic [PP-1:0] p_sig;
  logic signed [XW-1:0] p_exp;
  assign p_sign = a_sign ^ b_sign;
  assign p_zero = a_zero | b_zero;
  assign p_sig = PP'(a_sig) * PP'(b_sig);
  assign p_exp = a_exp + b_exp;

  // ---- 3. Normalise both addends to 1.F x 2^E ---------------------------------------------
  logic [$clog2(PP+1)-1:0] p_lz;
  logic [$clog2(PC+1)-1:0] c_lz;
  logic [PP-1:0] p_norm;
  logic [PC-1:0] c_norm;
  logic signed [XW-1:0] p_e, c_e;
  logic [WF-1:0] p_f, c_f;
  lzc #(.W(PP)) lzc_p (.x(p_sig), .n(p_lz));
  lzc #(.W(PC)) lzc_c (.x(c_sig), .n(c_lz));
  assign p_norm = p_sig << p_lz;
  assign c_norm = c_sig << c_lz;
  assign p_e = p_exp + XW'(1) - XW'(p_lz);  // bit PP-1 of p_sig weighs 2^(p_exp+1)
  assign c_e = c_exp - XW'(c_lz);
  assign p_f = {p_norm[PP-2:0], {(WF - PP + 1) {1'b0}}};
  assign c_f = {c_norm[PC-2:0], {(WF - PC + 1) {1'b0}}};

  // ---- 4. Order by magnitude: |big| >= |small| -------------------------------------------
  logic p_bigger, big_sign, small_sign, small_zero, eff_sub;
  logic signed [XW-1:0] big_e, small_e;
  logic [WF-1:0] big_f, small_f;
  assign p_bigger = ~p_zero & (c_zero | (p_e > c_e) | ((p_e == c_e) & (p_f > c_f)));
  assign big_sign = p_bigger ? p_sign : c_sign;
  assign big_e = p_bigger ? p_e : c_e;
  assign big_f = p_bigger ? p_f : c_f;
  assign small_sign = p_bigger ? c_sign : p_sign;
  assign small_e = p_bigger ? c_e : p_e;
  assign small_f = p_bigger ? c_f : p_f;
  assign small_zero = p_bigger ? c_zero : p_zero;
  assign eff_sub = big_sign ^ small_sign;

  // ---- 5. Align the smaller addend: shift right by the exponent difference ---------------
  // The frame keeps MC fraction bits, guard and round (WF - 1 = MC + 2 bits below the
  // leading bit) and, in its last bit, the sticky bit: the OR of every bit below them.
  logic [XW-1:0] d;
  logic [WF:0] small_al;
  logic small_st, sticky;
  assign d = small_zero ? '0 : XW'(big_e - small_e);
  shr_sticky #(.W(WF + 1), .SW(XW)) align (
      .x(small_zero ? '0 : {1'b1, small_f}), .sh(d), .y(small_al), .sticky(small_st));
  assign sticky = NO_STICKY ? 1'b0 : (small_al[0] | small_st);

  // ---- 6. Add (or subtract: big >= small, so never negative) ------------------------------
  logic [NF-1:0] big_x, small_x, sum;
  assign big_x = {2'b01, big_f};
  assign small_x = {1'b0, small_al[WF:1], sticky};
  assign sum = eff_sub ? big_x - small_x : big_x + small_x;

  // ---- 7. Normalise: the sum's leading bit to the top ------------------------------------
  logic [$clog2(NF+1)-1:0] s_lz;
  logic [NF-1:0] r_n;
  logic signed [XW-1:0] r_e;
  logic s_zero;
  lzc #(.W(NF)) lzc_s (.x(sum), .n(s_lz));
  assign s_zero = (sum == '0);
  assign r_n = sum << s_lz;
  assign r_e = big_e + XW'(1) - XW'(s_lz);  // bit NF-1 weighs 2^(big_e+1)

  // ---- 8. Round into the accumulator format ----------------------------------------------
  // Below the normal range the significand is first shifted right to the subnormal grid.
  logic below, den_st, g, s, inc, ovf, inexact;
  logic [NF-1:0] r_den, r_m;
  logic [XW-1:0] r_be;
  logic [PC-1:0] kept;
  logic [XW+MC-1:0] packed_r;
  assign below = (r_e < XW'(EMIN));
  shr_sticky #(.W(NF), .SW(XW)) denorm (
      .x(r_n), .sh(below ? XW'(XW'(EMIN) - r_e) : '0), .y(r_den), .sticky(den_st));
  assign r_m = below ? {r_den[NF-1:1], r_den[0] | den_st} : r_n;
  assign r_be = below ? '0 : XW'(r_e - XW'(EMIN) + XW'(1));  // biased exponent
  assign kept = r_m[NF-1-:PC];  // hidden bit and MC fraction bits
  assign g = r_m[NF-1-PC];  // guard bit
  assign s = |r_m[NF-2-PC:0];  // round and sticky bits
  assign inc = TIES_AWAY ? g : g & (s | kept[0]);
  // The increment carries into the exponent field: subnormal -> min normal, max -> Inf.
  assign packed_r = {r_be, kept[MC-1:0]} + (XW + MC)'(inc);
  assign ovf = ($signed(packed_r[MC+:XW]) >= $signed(XW'(2 ** EC - 1)));
  assign inexact = g | s | ovf;

  // Tininess after rounding: round the normalised sum to MC+1 bits with an unbounded
  // exponent; tiny when that is still below 2^EMIN. Only r_e = EMIN-1 can round up to it.
  logic g_u, s_u, carry_u, tiny;
  assign g_u = r_n[NF-1-PC];
  assign s_u = |r_n[NF-2-PC:0];
  assign carry_u = (&r_n[NF-1-:PC]) & (TIES_AWAY ? g_u : g_u & (s_u | r_n[NF-PC]));
  assign tiny = below & ~((r_e == XW'(EMIN - 1)) & carry_u);

  logic unused;  // bits known to be 1 (leading bits) or consumed elsewhere
  assign unused = ^{p_norm[PP-1], c_norm[PC-1], kept[MC]};

  // ---- 9. Specials, zeros, and the result -------------------------------------------------
  logic inv_mul, p_inf, inv_add, is_nan;
  logic [WC-1:0] result;
  logic [4:0] step_flags;
  assign inv_mul = (a_inf & b_zero) | (a_zero & b_inf);  // 0 * Inf
  assign p_inf = (a_inf | b_inf) & ~a_nan & ~b_nan & ~inv_mul;
  assign inv_add = p_inf & c_inf & (p_sign ^ c_sign);  // Inf - Inf
  assign is_nan = a_nan | b_nan | c_nan | inv_mul | inv_add;

  always_comb begin
    step_flags = '0;
    if (is_nan) begin
      result = {1'b1, EXP_ONES, 1'b1, {(MC - 1) {1'b0}}};  // default NaN: negative quiet
      step_flags[4] = a_snan | b_snan | c_snan | inv_mul | inv_add;
    end else if (p_inf) begin
      result = {p_sign, EXP_ONES, {MC{1'b0}}};
    end else if (c_inf) begin
      result = acc;
    end else if (p_zero & c_zero) begin
      result = {p_sign & c_sign, {(EC + MC) {1'b0}}};  // -0 only for -0 + -0
    end else if (s_zero) begin
      result = '0;  // exact cancellation: +0
    end else if (FLUSH & below) begin
      result = {big_sign, {(EC + MC) {1'b0}}};  // (mutation) flush a tiny result to zero
      step_flags[1:0] = 2'b11;
    end else if (ovf) begin
      result = SATURATE ? {big_sign, EXP_ONES - EC'(1), {MC{1'b1}}}  // (mutation)
          : {big_sign, EXP_ONES, {MC{1'b0}}};  // round to nearest: overflow to Inf
      step_flags[2] = 1'b1;
      step_flags[0] = 1'b1;
    end else begin
      result = {big_sign, packed_r[EC+MC-1:0]};
      step_flags[0] = inexact;
      step_flags[1] = tiny & inexact;
    end
  end

  // ---- The accumulator register: one MAC per cycle --------------------------------------
  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      acc <= '0;
      flags <= '0;
      flags_sticky <= '0;
    end else if (load) begin
      acc <= load_value;
      flags <= '0;
      flags_sticky <= '0;
    end else if (valid) begin
      acc <= result;
      flags <= step_flags;
      flags_sticky <= flags_sticky | step_flags;
    end
  end
endmodule
