// rtl/fp_unpack.sv — shared by the example designs (fp8_mac.sv, dot4.sv).
// Unpack one encoding of a binary floating-point format with E exponent and M fraction
// bits (bias 2^(E-1)-1) into its class and its significand.
//
//   value = (-1)^sign * sig * 2^(exp - M)
//
// `exp` is the exponent of the hidden-bit position: the unbiased exponent of a normal
// number, and emin = 1 - bias for a subnormal (whose hidden bit is 0). That is also what
// the NVIDIA tensor-core alignment (`align=field`) calls a subnormal input's exponent.
//
// FN = 0: IEEE-like (exponent all-ones is Inf or NaN; NaN with the top fraction bit clear is
// signalling). FN = 1: OCP "fn" (no Inf; only S.1...1.1...1 is NaN; all NaNs are quiet).
// FLUSH = 1 reads subnormals as zero (a mutation of the examples; never a correct setting
// for the specs they implement).
module fp_unpack #(
    parameter int E = 5,
    parameter int M = 2,
    parameter bit FN = 1'b0,
    parameter bit FLUSH = 1'b0,
    parameter int XW = 16  // width of the signed exponent
) (
    input  logic [E+M:0]         x,
    output logic                 sign,
    output logic                 zero,
    output logic                 inf,
    output logic                 nan,
    output logic                 snan,
    output logic [  M:0]         sig,
    output logic signed [XW-1:0] exp
);
  localparam int BIAS = 2 ** (E - 1) - 1;

  logic [E-1:0] ef;
  logic [M-1:0] fr;
  logic ef_zero, ef_ones, fr_zero, fr_ones;

  assign sign = x[E+M];
  assign ef = x[M+:E];
  assign fr = x[M-1:0];
  assign ef_zero = (ef == '0);
  assign ef_ones = &ef;
  assign fr_zero = (fr == '0);
  assign fr_ones = &fr;

  assign nan = FN ? (ef_ones & fr_ones) : (ef_ones & ~fr_zero);
  assign inf = ~FN & ef_ones & fr_zero;
  assign snan = ~FN & nan & ~fr[M-1];
  assign zero = ef_zero & (fr_zero | FLUSH);
  assign sig = zero ? '0 : {~ef_zero, fr};
  // a subnormal's exponent field reads as 1 (emin), like the smallest normal's
  logic [E-1:0] ef_eff;
  assign ef_eff = ef_zero ? E'(1) : ef;
  assign exp = $signed(XW'(ef_eff)) - $signed(XW'(BIAS));
endmodule
