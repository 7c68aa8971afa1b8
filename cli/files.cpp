// cli/files.cpp — the shared file rules (see files.hpp).
#include "cli/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "cli/options.hpp"

namespace fp8sim::cli {

namespace {

std::vector<std::string>& created() {
  static std::vector<std::string> v;
  return v;
}

// The resolved path of a file that may not exist yet: its folder resolved, plus its name.
std::string resolved(const std::string& path) {
  std::error_code ec;
  const auto p = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  return ec ? path : p.string();
}

}  // namespace

std::string tensor_file(const std::string& spec) {
  for (const char* ext : {".h5:", ".hdf5:"}) {
    const auto at = spec.find(ext);
    if (at != std::string::npos) return spec.substr(0, at + std::strlen(ext) - 1);
  }
  return spec;
}

void check_input_file(const FileRole& in) {
  if (in.path == "-") return;
  struct stat st {};
  if (::stat(in.path.c_str(), &st) != 0)
    throw UsageError(fmt::format("{} {}: {}", in.option, shown(in.path),
                                 errno == ENOENT ? "no such file" : std::strerror(errno)));
  if (S_ISDIR(st.st_mode))
    throw UsageError(fmt::format("{} {} is a directory, not a file", in.option, shown(in.path)));
  const int fd = ::open(in.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw UsageError(fmt::format("{} {}: {}", in.option, shown(in.path),
                                 errno == EACCES ? "permission denied" : std::strerror(errno)));
  ::close(fd);
}

void check_file_roles(const std::vector<FileRole>& inputs, const std::vector<FileRole>& outputs) {
  struct Seen {
    const FileRole* role;
    bool exists;
    dev_t dev;
    ino_t ino;
    std::string path;
  };
  auto look = [](const FileRole& r) {
    struct stat st {};
    const bool exists = r.path != "-" && ::stat(r.path.c_str(), &st) == 0;
    return Seen{&r, exists, st.st_dev, st.st_ino, resolved(r.path)};
  };
  std::vector<Seen> ins, outs;
  for (const auto& r : inputs)
    if (!r.path.empty()) ins.push_back(look(r));
  for (const auto& r : outputs) {
    if (r.path.empty()) continue;
    Seen s = look(r);
    struct stat st {};
    if (s.exists && ::stat(r.path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      throw UsageError(fmt::format("{} {} is a directory, not a file", r.option, shown(r.path)));
    // the folder must exist and take new files (checked for every output before any is
    // opened, so one bad output does not leave another half-made)
    const std::filesystem::path parent = std::filesystem::path(s.path).parent_path();
    struct stat pst {};
    if (::stat(parent.c_str(), &pst) != 0)
      throw UsageError(fmt::format("{} {}: folder {} does not exist", r.option, shown(r.path),
                                   shown(parent.string())));
    if (!S_ISDIR(pst.st_mode))
      throw UsageError(fmt::format("{} {}: {} is not a directory", r.option, shown(r.path),
                                   shown(parent.string())));
    if (::access(parent.c_str(), W_OK) != 0 && !(s.exists && ::access(r.path.c_str(), W_OK) == 0))
      throw UsageError(fmt::format("{} {}: permission denied (folder {} is not writable)", r.option,
                                   shown(r.path), shown(parent.string())));
    if (s.exists && ::access(r.path.c_str(), W_OK) != 0)
      throw UsageError(fmt::format("{} {}: permission denied", r.option, shown(r.path)));
    auto same = [&](const Seen& o) {
      return (s.exists && o.exists) ? (s.dev == o.dev && s.ino == o.ino) : s.path == o.path;
    };
    for (const auto& i : ins)
      if (same(i))
        throw UsageError(
            fmt::format("{} {} is the same file as the input {} {}: refusing to "
                        "write over an input",
                        r.option, shown(r.path), i.role->option, shown(i.role->path)));
    for (const auto& o : outs)
      if (same(o))
        throw UsageError(fmt::format("{} {} and {} {} name the same file", o.role->option,
                                     shown(o.role->path), r.option, shown(r.path)));
    outs.push_back(s);
  }
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void will_create(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return;  // never /dev/full
  for (const auto& p : created())
    if (p == path) return;
  created().push_back(path);
}

void remove_created_outputs() noexcept {
  for (const auto& p : created()) ::unlink(p.c_str());
  created().clear();
}

}  // namespace fp8sim::cli
