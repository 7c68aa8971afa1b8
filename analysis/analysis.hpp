// analysis/analysis.hpp — the public header of the analysis module.
//
// Contract: analysis observes; it never changes a result. It turns what quantizers and
// MAC units saw into statistics (TensorStats per quantization point and GEMM output,
// GemmStats with the MAC unit's flags and the swamping fraction, GradientStats), writes
// them to HDF5 in the layout of docs/hdf5-schema.md (Recorder: append-only, SWMR, crash
// safe up to the last flush; also a run's own series, such as a training run's /train), dumps and
// reads tensors (.npy and HDF5), and reads a recording back (summarize_run). It depends on formats/
// only (plus the QuantizeCounters struct of rounding/quantize.hpp); the MAC unit's counts come in
// as a plain MacTally.
#pragma once

#include "analysis/gemm_stats.hpp"
#include "analysis/gradient_stats.hpp"
#include "analysis/h5_file.hpp"
#include "analysis/recorder.hpp"
#include "analysis/run_info.hpp"
#include "analysis/run_summary.hpp"
#include "analysis/sweep_file.hpp"
#include "analysis/tensor_io.hpp"
#include "analysis/tensor_stats.hpp"
#include "analysis/train_series.hpp"
