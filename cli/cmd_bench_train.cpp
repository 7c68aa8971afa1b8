// cli/cmd_bench_train.cpp — `fp8sim bench train`: images per second of resnet training
// (every GEMM on the emulated MAC unit) for several recipes, against the same network and
// batch in PyTorch fp32 (CPU) measured in the same run; where the time goes; peak memory.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <omp.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/cpu_info.hpp"
#include "workloads/train.hpp"

namespace fp8sim::cli {

namespace {

// The same network as workloads/nn/resnet.hpp (stem conv3x3 + BN + ReLU, three stages of one
// basic block of widths w, 2w, 4w, the later two with stride 2 and a 1x1 projection,
// global average pool, linear), trained with SGD on a fixed batch; prints images/s.
constexpr const char* kTorchScript = R"PY(
import sys, time
import torch, torch.nn as nn
threads, batch, steps, w = map(int, sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
class Block(nn.Module):
    def __init__(s, i, o, stride):
        super().__init__()
        s.c1 = nn.Conv2d(i, o, 3, stride, 1, bias=False); s.b1 = nn.BatchNorm2d(o)
        s.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); s.b2 = nn.BatchNorm2d(o)
        s.sc = None if stride == 1 and i == o else nn.Sequential(
            nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
    def forward(s, x):
        y = torch.relu(s.b1(s.c1(x)))
        y = s.b2(s.c2(y))
        return torch.relu(y + (x if s.sc is None else s.sc(x)))
net = nn.Sequential(nn.Conv2d(1, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                    Block(w, w, 1), Block(w, 2 * w, 2), Block(2 * w, 4 * w, 2),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
x = torch.rand(batch, 1, 28, 28); y = torch.arange(batch) % 10
loss = nn.CrossEntropyLoss()
def step():
    opt.zero_grad(); loss(net(x), y).backward(); opt.step()
step()
t = time.perf_counter()
for _ in range(steps):
    step()
print(batch * steps / (time.perf_counter() - t))
)PY";

// PyTorch's images/s, or a negative number when python3 or torch is missing.
double torch_images_per_second(int threads, std::size_t batch, std::size_t steps, std::size_t width,
                               std::string& why) {
  const std::string path = "/tmp/fp8sim-bench-train-" + std::to_string(getpid()) + ".py";
  if (FILE* f = std::fopen(path.c_str(), "w")) {
    std::fputs(kTorchScript, f);
    std::fclose(f);
  } else {
    why = "cannot write " + path;
    return -1;
  }
  const std::string cmd =
      fmt::format("/usr/bin/python3 {} {} {} {} {} 2>&1", path, threads, batch, steps, width);
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int rc = pclose(p);
    std::remove(path.c_str());
    if (rc != 0) {
      why = out.find("No module named 'torch'") != std::string::npos
                ? "PyTorch is not installed (apt-get install python3-torch)"
                : "the PyTorch run failed: " + out.substr(0, 200);
      return -1;
    }
  }
  try {
    return std::stod(out);
  } catch (const std::exception&) {
    why = "unexpected PyTorch output: " + out.substr(0, 200);
    return -1;
  }
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace

void add_bench_train_command(CLI::App& bench, Context& ctx) {
  auto* cmd = bench.add_subcommand(
      "train", "resnet training, images/s per recipe, against PyTorch fp32 in the same run");
  struct Opts {
    std::size_t batch = 128, steps = 3, width = 16;
    int threads = 2;
    std::vector<std::string> recipes = {"fp32", "mellempudi2019", "wang2018"};
    bool json = false, with_stats = false;
  };
  auto o = std::make_shared<Opts>();
  add_integer(*cmd, "--batch", o->batch, std::size_t{1}, std::size_t{4096}, "Batch size");
  add_integer(*cmd, "--steps", o->steps, std::size_t{1}, std::size_t{1000},
              "Timed steps (after one warm-up step)");
  add_integer(*cmd, "--width", o->width, std::size_t{1}, std::size_t{256},
              "resnet width (channels of the first stage)");
  add_integer(*cmd, "--threads", o->threads, 1, 1024, "Threads (fp8sim and PyTorch)");
  cmd->add_option("--recipes", o->recipes, "Recipes to time (presets)")
      ->type_name("NAME ...")
      ->capture_default_str()
      ->check(CLI::IsMember(workloads::recipe_preset_names()));
  cmd->add_flag("--with-stats", o->with_stats,
                "Also time each recipe collecting every quantizer's and GEMM's statistics every "
                "step (what --record with --sample-every 1 computes): rows 'RECIPE +stats'");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->footer(
      "Times training steps of the resnet workload on a synthetic batch (no data set needed)\n"
      "for each recipe, then the same network and batch in PyTorch fp32 (python3-torch, CPU,\n"
      "as many threads), and prints images/s, the ratio to PyTorch, the share of time in the\n"
      "simulator's GEMMs, the role quantizers, the convolutions' lowering (im2col, col2im\n"
      "and layout changes), batch normalisation and the update (unscaling, optimizer, master\n"
      "weights), the rest (activations, pooling, loss, ...) as other%, and the peak memory of\n"
      "the process.\n"
      "Goal: mellempudi2019 at 0.3x PyTorch's fp32 speed, peak memory under 2 GiB.\n"
      "Examples:\n"
      "  fp8sim bench train                                  batch 128, 2 threads, 3 steps\n"
      "  fp8sim bench train --recipes mellempudi2019 --steps 1 --batch 32 --json\n"
      "  fp8sim bench train --recipes mellempudi2019 --with-stats   the cost of statistics\n");
  cmd->callback([o, &ctx] {
    (void)ctx;
    struct Row {
      std::string recipe;
      workloads::StepTiming t;
    };
    std::vector<Row> rows;
    for (const auto& name : o->recipes) {
      workloads::TrainOptions t;
      t.workload = "resnet";
      t.recipe = workloads::recipe_preset(name);
      t.batch = o->batch;
      t.threads = o->threads;
      t.resnet_width = o->width;
      rows.push_back({name, workloads::time_training_steps(t, o->steps)});
      if (o->with_stats)
        rows.push_back({name + " +stats", workloads::time_training_steps(t, o->steps, true)});
    }
    std::string why;
    const double torch = torch_images_per_second(o->threads, o->batch, o->steps, o->width, why);
    const double rss = peak_rss_mib();
    if (o->json) {
      fmt::print(
          "{{\"cpu\": {}, \"kernel_isa\": {}, \"batch\": {}, \"threads\": {}, \"steps\": {}, "
          "\"width\": {}, \"torch_images_per_s\": {}, \"peak_rss_mib\": {:.1f}, \"rows\": [",
          json_string(cpu_model()), json_string(kernel_isa()), o->batch, o->threads, o->steps,
          o->width, torch > 0 ? json_number(torch) : "null", rss);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        fmt::print(
            "{}{{\"recipe\": {}, \"images_per_s\": {}, \"ratio_to_torch\": {}, "
            "\"gemm_share\": {:.4f}, \"quantize_share\": {:.4f}, \"lowering_share\": {:.4f}, "
            "\"norm_share\": {:.4f}, \"update_share\": {:.4f}}}",
            i ? ", " : "", json_string(r.recipe), json_number(r.t.images_per_second),
            torch > 0 ? fmt::format("{:.4f}", r.t.images_per_second / torch) : "null",
            r.t.gemm / r.t.seconds, r.t.quantize / r.t.seconds, r.t.lowering / r.t.seconds,
            r.t.norm / r.t.seconds, r.t.update / r.t.seconds);
      }
      fmt::print("]}}\n");
      return;
    }
    fmt::print("CPU: {}; fp8sim's kernels run at {}\n", cpu_model(), kernel_isa());
    fmt::print("resnet (width {}), batch {}, {} threads, {} timed steps\n", o->width, o->batch,
               o->threads, o->steps);
    fmt::print("{:<18} {:>10} {:>8} {:>6} {:>9} {:>9} {:>6} {:>7} {:>6}\n", "recipe", "images/s",
               "x torch", "GEMM%", "quantize%", "lowering%", "norm%", "update%", "other%");
    for (const auto& r : rows) {
      const auto pct = [&](double x) { return 100 * x / r.t.seconds; };
      fmt::print("{:<18} {:>10.1f} {:>8} {:>6.1f} {:>9.1f} {:>9.1f} {:>6.1f} {:>7.1f} {:>6.1f}\n",
                 r.recipe, r.t.images_per_second,
                 torch > 0 ? fmt::format("{:.3f}", r.t.images_per_second / torch) : "-",
                 pct(r.t.gemm), pct(r.t.quantize), pct(r.t.lowering), pct(r.t.norm),
                 pct(r.t.update),
                 pct(r.t.seconds - r.t.gemm - r.t.quantize - r.t.lowering - r.t.norm - r.t.update));
    }
    if (torch > 0)
      fmt::print("{:<18} {:>10.1f} {:>10}\n", "PyTorch fp32", torch, "1.000");
    else
      fmt::print("PyTorch baseline not measured: {}\n", why);
    fmt::print("peak memory {:.0f} MiB; goal: mellempudi2019 >= 0.3x PyTorch, < 2048 MiB\n", rss);
  });
}

}  // namespace fp8sim::cli
