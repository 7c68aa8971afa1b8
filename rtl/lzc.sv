// rtl/lzc.sv — a leading-zero counter, shared by the example designs.
// Number of leading zeros of x (W when x is zero).
module lzc #(
    parameter int W  = 8,
    parameter int CW = $clog2(W + 1)
) (
    input  logic [ W-1:0] x,
    output logic [CW-1:0] n
);
  always_comb begin
    n = CW'(W);
    for (int i = 0; i < W; i++) if (x[i]) n = CW'(W - 1 - i);
  end
endmodule
