// rtl/shr_sticky.sv — a right shifter keeping a sticky bit, shared by the example designs.
// y = x >> sh; sticky = OR of the bits shifted out. Any shift amount (>= W shifts all out).
module shr_sticky #(
    parameter int W  = 8,
    parameter int SW = 16
) (
    input  logic [ W-1:0] x,
    input  logic [SW-1:0] sh,
    output logic [ W-1:0] y,
    output logic          sticky
);
  assign y = x >> sh;
  assign sticky = |(x & ~({W{1'b1}} << sh));
endmodule
