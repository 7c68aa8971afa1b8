// cli/sweep_mpi.cpp — see sweep_mpi.hpp. Messages (MPI_COMM_WORLD):
//   rank r -> 0, tag kResult: {point, bytes, failed} (int64 x 3; point -1: "give me work"),
//                  then, when bytes > 0, tag kBytes: the record file's bytes;
//   0 -> rank r, tag kAssign: the next point (int64; -1: no more, stop).
#include "cli/sweep_mpi.hpp"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

#include <fmt/format.h>

#if defined(FP8SIM_HAVE_MPI)
// (the C API only: OpenMPI's deprecated C++ bindings do not compile warning-free)
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace fp8sim::cli {

#if defined(FP8SIM_HAVE_MPI)

namespace {

constexpr int kResult = 1, kBytes = 2, kAssign = 3;

// Started by mpirun with more than one rank (OpenMPI's or a PMI launcher's variables).
bool launched_with_ranks() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char* s = std::getenv(v);
    if (s && std::atoi(s) > 1) return true;
  }
  return false;
}

}  // namespace

bool mpi_built() {
  return true;
}

MpiSession::MpiSession() {
  if (!launched_with_ranks()) return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  initialized_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  if (initialized_) MPI_Finalize();
}

void MpiSession::broadcast(std::string& text) const {
  if (size_ < 2) return;
  auto n = static_cast<std::int64_t>(text.size());
  MPI_Bcast(&n, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  text.resize(static_cast<std::size_t>(n));
  if (n > 0) MPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD);
}

void MpiSession::broadcast(int& status) const {
  if (size_ < 2) return;
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
}

void MpiSession::abort(int status) const {
  if (initialized_) MPI_Abort(MPI_COMM_WORLD, status);
  std::exit(status);
}

void mpi_coordinate(const MpiSession& s, const std::vector<std::size_t>& todo,
                    const std::function<void(std::size_t, const std::string&, bool)>& store,
                    const std::function<bool()>& stop) {
  std::size_t next = 0;
  int working = s.size() - 1;  // ranks not told to stop yet
  while (working > 0) {
    std::int64_t head[3];
    MPI_Status st;
    MPI_Recv(head, 3, MPI_INT64_T, MPI_ANY_SOURCE, kResult, MPI_COMM_WORLD, &st);
    const int from = st.MPI_SOURCE;
    if (head[0] >= 0) {
      std::string bytes(static_cast<std::size_t>(head[1]), '\0');
      if (head[1] > 0)
        MPI_Recv(bytes.data(), static_cast<int>(head[1]), MPI_CHAR, from, kBytes, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
      store(static_cast<std::size_t>(head[0]), bytes, head[2] != 0);
    }
    std::int64_t assign = -1;
    if (next < todo.size() && !stop()) assign = static_cast<std::int64_t>(todo[next++]);
    MPI_Send(&assign, 1, MPI_INT64_T, from, kAssign, MPI_COMM_WORLD);
    if (assign < 0) --working;
  }
}

void mpi_work(const MpiSession& s,
              const std::function<bool(std::size_t, const std::string&)>& run) {
  (void)s;
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("fp8sim-sweep-rank-" + std::to_string(s.rank()) + "-" +
                                   std::to_string(static_cast<long long>(::getpid())));
  fs::create_directories(dir);
  std::int64_t head[3] = {-1, 0, 0};
  std::string bytes;
  while (true) {
    MPI_Send(head, 3, MPI_INT64_T, 0, kResult, MPI_COMM_WORLD);
    if (head[0] >= 0 && head[1] > 0)
      MPI_Send(bytes.data(), static_cast<int>(head[1]), MPI_CHAR, 0, kBytes, MPI_COMM_WORLD);
    std::int64_t assign = -1;
    MPI_Recv(&assign, 1, MPI_INT64_T, 0, kAssign, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (assign < 0) break;
    const std::string path = (dir / fmt::format("p{}.h5", assign)).string();
    const bool failed = run(static_cast<std::size_t>(assign), path);
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
    std::error_code ec;
    fs::remove(path, ec);
    head[0] = assign;
    head[1] = static_cast<std::int64_t>(bytes.size());
    head[2] = failed ? 1 : 0;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

#else  // no MPI in this build: one rank

bool mpi_built() {
  return false;
}
MpiSession::MpiSession() = default;
MpiSession::~MpiSession() = default;
void MpiSession::broadcast(std::string&) const {}
void MpiSession::broadcast(int&) const {}
void MpiSession::abort(int status) const {
  std::exit(status);
}
void mpi_coordinate(const MpiSession&, const std::vector<std::size_t>&,
                    const std::function<void(std::size_t, const std::string&, bool)>&,
                    const std::function<bool()>&) {
  throw std::logic_error("mpi_coordinate without MPI");
}
void mpi_work(const MpiSession&, const std::function<bool(std::size_t, const std::string&)>&) {
  throw std::logic_error("mpi_work without MPI");
}

#endif

}  // namespace fp8sim::cli
