// cli/train_checkpoint.hpp — what `fp8sim train --resume` does to the recording of the run
// it continues (docs/hdf5-schema.md, "Training checkpoints"): the recording is cut back to
// the checkpoint, so that the resumed run's rows follow on as an uninterrupted run's would,
// and the points it declared are read back to be declared again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fp8sim::cli {

/// The checkpoint file of a recording: "run.h5" -> "run.ckpt.h5", "run" -> "run.ckpt.h5".
[[nodiscard]] std::string default_checkpoint_path(const std::string& record);

/// Cuts the training recording `path` back to the state of a checkpoint taken after step
/// `step` - 1 in epoch `epoch`: every series and point keeps its rows of steps before
/// `step`, /train/epochs its rows of epochs before `epoch` (the checkpoint's epoch report is
/// still to come), /train/test none (a test evaluation ends a run; a checkpoint precedes
/// it). Rows cut off by a crash (step -1) go too. The "open for writing" mark a killed
/// writer left is cleared (as `h5clear -s` does). Throws analysis::IoError naming the file
/// (not a training recording, locked by a running writer, damaged, ...), or when the
/// recording lacks steps the checkpoint has done (it was not flushed with it).
void rewind_recording(const std::string& path, std::uint64_t step, std::uint64_t epoch);

/// The points a training recording declares, as written in the file.
struct RecordedPoints {
  struct Quantizer {
    std::string tensor, role, format, rounding;
  };
  struct Gemm {
    std::string name, mac, format;
    std::uint64_t m = 0, n = 0, k = 0;
  };
  struct Gradient {
    std::string tensor, format;
  };
  std::vector<Quantizer> quantizers;
  std::vector<Gemm> gemms;
  std::vector<Gradient> gradients;
};
/// Reads them (after rewind_recording). Throws analysis::IoError.
[[nodiscard]] RecordedPoints read_recorded_points(const std::string& path);

}  // namespace fp8sim::cli
