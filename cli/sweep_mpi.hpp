// cli/sweep_mpi.hpp — a sweep across the ranks of an MPI job (`mpirun -np N fp8sim sweep`;
// OpenMPI, the Meson feature `mpi`). Rank 0 does everything a single process does except
// running points: it hands point numbers out one at a time as ranks ask (so slow points
// do not idle the others), receives each finished point's record file as bytes, writes it
// into OUT.parts/ and joins the file. The other ranks only run points: they write each
// record to a local temporary file and send its bytes, so no shared file system is needed.
// A rank that dies loses only its point in flight; --resume redoes it. Without MPI in the
// build these functions report a single rank.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace fp8sim::cli {

/// MPI_Init (only when started by mpirun with more than one rank) and MPI_Finalize.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] int size() const { return size_; }
  /// `text` and `status` from rank 0 to every rank.
  void broadcast(std::string& text) const;
  void broadcast(int& status) const;
  /// Ends every rank of the job now (MPI_Abort) with `status`.
  [[noreturn]] void abort(int status) const;

 private:
  int rank_ = 0, size_ = 1;
  bool initialized_ = false;
};

/// Whether this build can run a sweep under mpirun.
[[nodiscard]] bool mpi_built();

/// Rank 0: hands out the entries of `todo` (point numbers) until none is left or stop()
/// says so; for each point a rank finished, store(point, bytes of its record file, failed).
void mpi_coordinate(const MpiSession& s, const std::vector<std::size_t>& todo,
                    const std::function<void(std::size_t, const std::string&, bool)>& store,
                    const std::function<bool()>& stop);

/// Ranks > 0: asks rank 0 for points until it says there are none; run(point, path) writes
/// the point's record file at `path` (a local temporary file) and says whether it failed.
void mpi_work(const MpiSession& s, const std::function<bool(std::size_t, const std::string&)>& run);

}  // namespace fp8sim::cli
