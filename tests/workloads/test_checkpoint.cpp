// tests/workloads/test_checkpoint.cpp — checkpoints of a training run
// (workloads/checkpoint.hpp): a run interrupted after k steps, written to a file, read back
// into fresh objects and resumed, ends bit for bit as the run without the interruption
// (weights, master codes, optimizer and scaler state, delayed scales, BN buffers, every
// step's loss, the epoch and test reports), for mlp and a tiny resnet, under stochastic
// rounding with the enhanced loss scaler (mellempudi2019) and under delayed scaling
// (ocp-fp8); mismatched options and broken files are refused by name; a checkpoint a run
// is writing cannot be taken by another.
#include <doctest/doctest.h>

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "analysis/run_info.hpp"
#include "workloads/checkpoint.hpp"
#include "workloads/train.hpp"

using namespace fp8sim::workloads;
namespace fs = std::filesystem;

namespace {

std::uint64_t bits(double v) {
  return std::bit_cast<std::uint64_t>(v);
}

// Everything a run reports, as bits, and every checkpoint it hands out.
class Capture final : public TrainObserver {
 public:
  explicit Capture(std::uint64_t stop_after = ~std::uint64_t{0}) : stop_after_(stop_after) {}
  void on_step(const StepReport& r) override {
    steps.push_back({r.step, r.epoch, bits(r.loss), bits(r.accuracy), bits(r.lr),
                     bits(r.loss_scale), r.skipped ? 1u : 0u, r.overflow_events, r.images});
    last = r.step;
  }
  void on_epoch(const EpochReport& e) override {
    epochs.push_back({e.step, e.epoch, bits(e.train_loss), bits(e.train_accuracy),
                      bits(e.validation.loss), bits(e.validation.accuracy), e.validation.count});
  }
  void on_test(std::uint64_t step, const EvalReport& t) override {
    tests.push_back({step, bits(t.loss), bits(t.accuracy), t.count});
  }
  bool stop_requested() override { return last + 1 >= stop_after_ && !steps.empty(); }
  void on_checkpoint(const TrainState& s) override { states.push_back(s); }

  std::vector<std::vector<std::uint64_t>> steps, epochs, tests;
  std::vector<TrainState> states;
  std::uint64_t last = 0;

 private:
  std::uint64_t stop_after_;
};

TrainOptions tiny(const std::string& recipe, const std::string& workload = "mlp") {
  TrainOptions o;
  o.workload = workload;
  o.recipe = recipe_preset(recipe);
  o.data_dir = FP8SIM_TEST_DATA_DIR "/fashion-mnist";
  o.train_size = 120;
  o.validation_size = 40;
  o.test_size = 60;
  o.batch = 25;  // 5 steps per epoch, the last one of 20 images
  o.epochs = 2;
  o.seed = 11;
  o.mlp_sizes = {784, 24, 10};
  o.resnet_width = 2;
  o.lr = 0.05;
  o.checkpoint_every = 1;  // every state, to compare with
  return o;
}

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("fp8sim-ckpt-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

fp8sim::analysis::RunInfo info() {
  return fp8sim::analysis::current_run("train", "test_checkpoint", "");
}

void check_same_state(const TrainState& a, const TrainState& b) {
  CHECK(a.step == b.step);
  CHECK(a.epoch == b.epoch);
  CHECK(a.position == b.position);
  CHECK(a.images == b.images);
  CHECK(a.order == b.order);
  CHECK(bits(a.epoch_loss_sum) == bits(b.epoch_loss_sum));
  CHECK(a.epoch_correct == b.epoch_correct);
  CHECK(a.epoch_seen == b.epoch_seen);
  CHECK(bits(a.final_loss) == bits(b.final_loss));
  CHECK(bits(a.validation.loss) == bits(b.validation.loss));
  CHECK(a.validation.count == b.validation.count);
  REQUIRE(a.params.size() == b.params.size());
  for (std::size_t i = 0; i < a.params.size(); ++i) {
    CAPTURE(a.params[i].name);
    CHECK(a.params[i].name == b.params[i].name);
    CHECK(a.params[i].shape == b.params[i].shape);
    REQUIRE(a.params[i].value.size() == b.params[i].value.size());
    CHECK(std::memcmp(a.params[i].value.data(), b.params[i].value.data(),
                      a.params[i].value.size() * sizeof(float)) == 0);
    CHECK(a.params[i].master == b.params[i].master);
    CHECK(a.params[i].optimizer_steps == b.params[i].optimizer_steps);
    REQUIRE(a.params[i].optimizer_state.size() == b.params[i].optimizer_state.size());
    CHECK(std::memcmp(a.params[i].optimizer_state.data(), b.params[i].optimizer_state.data(),
                      a.params[i].optimizer_state.size() * sizeof(float)) == 0);
  }
  REQUIRE(a.buffers.size() == b.buffers.size());
  for (std::size_t i = 0; i < a.buffers.size(); ++i) {
    CAPTURE(a.buffers[i].name);
    CHECK(a.buffers[i].name == b.buffers[i].name);
    REQUIRE(a.buffers[i].value.size() == b.buffers[i].value.size());
    CHECK(std::memcmp(a.buffers[i].value.data(), b.buffers[i].value.data(),
                      a.buffers[i].value.size() * sizeof(float)) == 0);
  }
  CHECK(bits(a.scaler.scale) == bits(b.scaler.scale));
  CHECK(a.scaler.growth_tracker == b.scaler.growth_tracker);
  CHECK(a.scaler.updates == b.scaler.updates);
  CHECK(a.scaler.skipped_steps == b.scaler.skipped_steps);
  CHECK(a.scaler.overflow_events == b.scaler.overflow_events);
  CHECK(bits(a.min_scale) == bits(b.min_scale));
  REQUIRE(a.scales.size() == b.scales.size());
  for (const auto& [name, st] : a.scales) {
    CAPTURE(name);
    REQUIRE(b.scales.count(name) == 1);
    const ScaleState& o = b.scales.at(name);
    CHECK(bits(st.scale) == bits(o.scale));
    CHECK(st.next == o.next);
    CHECK(st.history == o.history);
  }
  // config: the file keeps attributes in name order
  auto sorted = [](auto c) {
    std::sort(c.begin(), c.end());
    return c;
  };
  CHECK(sorted(a.config) == sorted(b.config));
}

// The run straight through, then resumed from the checkpoint after each step in `at`
// (written to a file and read back, as after a kill), with `threads` threads: the same
// rows, reports, result and final state.
void check_resume(const TrainOptions& base, const std::vector<std::uint64_t>& at, int threads = 2) {
  Capture straight;
  TrainOptions o = base;
  o.threads = 1;
  const TrainResult rs = train(o, straight);
  REQUIRE(straight.states.size() == rs.steps);
  REQUIRE(straight.tests.size() == 1);
  const fs::path dir = temp_dir();
  for (const std::uint64_t k : at) {
    CAPTURE(k);
    REQUIRE(k < straight.states.size());
    const fs::path file = dir / "run.ckpt.h5";
    save_checkpoint(file, straight.states[k], info(), {{"extra", "kept"}});
    CHECK_FALSE(fs::exists(checkpoint_temp_path(file)));
    const TrainState loaded = load_checkpoint(file);  // fresh objects from here on
    {
      TrainState with_extra = straight.states[k];
      with_extra.config.emplace_back("extra", "kept");
      check_same_state(loaded, with_extra);
    }
    TrainOptions r = base;
    r.threads = threads;
    Capture resumed;
    const TrainResult rr = train(r, resumed, &loaded);
    // the steps after the checkpoint, the epoch reports it had still to make, the test
    std::vector<std::vector<std::uint64_t>> tail(straight.steps.begin() + static_cast<long>(k) + 1,
                                                 straight.steps.end());
    CHECK(resumed.steps == tail);
    std::vector<std::vector<std::uint64_t>> epochs;
    for (const auto& e : straight.epochs)
      if (e[1] >= loaded.epoch) epochs.push_back(e);
    CHECK(resumed.epochs == epochs);
    CHECK(resumed.tests == straight.tests);
    CHECK(rr.steps == rs.steps);
    CHECK(rr.skipped_steps == rs.skipped_steps);
    CHECK(bits(rr.final_loss) == bits(rs.final_loss));
    CHECK(bits(rr.final_scale) == bits(rs.final_scale));
    CHECK(bits(rr.test.loss) == bits(rs.test.loss));
    CHECK(bits(rr.validation.loss) == bits(rs.validation.loss));
    REQUIRE(!resumed.states.empty());
    check_same_state(resumed.states.back(), straight.states.back());
  }
  fs::remove_all(dir);
}

}  // namespace

TEST_CASE("checkpoint.mlp_sr_enhanced_scaler_resumes_bit_identical") {
  // mellempudi2019: E5M2 with SR errors and gradients, FP16 master weights with sr:13,
  // enhanced loss scaler; SGD with momentum. Resumed mid-epoch, at an epoch's last step
  // (its report still to come) and in the second epoch.
  TrainOptions o = tiny("mellempudi2019");
  o.momentum = 0.9;
  o.weight_decay = 1e-4;
  o.schedule = "cosine:t_max=10,warmup=2";
  check_resume(o, {1, 4, 6});
}

TEST_CASE("checkpoint.mlp_delayed_scaling_adamw_resumes_bit_identical") {
  // ocp-fp8: delayed scaling with a short amax history (the ring wraps), a dynamic loss
  // scaler, AdamW (two moments and the step per parameter)
  TrainOptions o = tiny("ocp-fp8");
  for (RoleQuant* q :
       {&o.recipe.weight, &o.recipe.activation, &o.recipe.error, &o.recipe.weight_grad})
    q->amax_history = 3;
  o.recipe.loss_scaler = "dynamic";
  o.optimizer = "adamw";
  o.lr = 1e-3;
  o.weight_decay = 0.01;
  check_resume(o, {0, 3, 7}, 8);
}

TEST_CASE("checkpoint.resnet_bn_buffers_resume_bit_identical") {
  // BatchNorm running statistics are state too; SR recipe, enhanced scaler
  TrainOptions o = tiny("mellempudi2019", "resnet");
  o.train_size = 32;
  o.validation_size = 16;
  o.test_size = 16;
  o.batch = 8;  // 4 steps per epoch
  check_resume(o, {2, 5});
}

TEST_CASE("checkpoint.stopped_run_checkpoints_and_resumes") {
  // a run stopped (SIGINT in the command line) hands out its state although the interval
  // is not due, and the resumed run ends as the uninterrupted one
  TrainOptions o = tiny("mellempudi2019");
  o.checkpoint_every = 4;
  Capture straight;
  const TrainResult rs = train(o, straight);
  REQUIRE(straight.states.size() == 3);  // after steps 3 and 7, and the last, 9
  CHECK(straight.states[0].step == 4);
  CHECK(straight.states[2].step == 10);
  Capture first(3);  // stops after step 2
  const TrainResult r1 = train(o, first);
  CHECK(r1.stopped);
  REQUIRE(first.states.size() == 1);
  CHECK(first.states[0].step == 3);
  const fs::path dir = temp_dir();
  save_checkpoint(dir / "c.h5", first.states[0], info());
  const TrainState loaded = load_checkpoint(dir / "c.h5");
  Capture second;
  const TrainResult r2 = train(o, second, &loaded);
  CHECK_FALSE(r2.stopped);
  std::vector<std::vector<std::uint64_t>> all = first.steps;
  all.insert(all.end(), second.steps.begin(), second.steps.end());
  CHECK(all == straight.steps);
  CHECK(second.tests == straight.tests);
  CHECK(bits(r2.test.accuracy) == bits(rs.test.accuracy));
  REQUIRE(second.states.size() == 3);  // the same intervals: after steps 3, 7 and 9
  check_same_state(second.states.back(), straight.states.back());
  fs::remove_all(dir);
}

TEST_CASE("checkpoint.more_epochs_continue_a_finished_run") {
  // --epochs may grow: a checkpoint of a 1-epoch run resumed with 2 epochs equals the
  // 2-epoch run
  TrainOptions two = tiny("mellempudi2019");
  Capture straight;
  (void)train(two, straight);
  TrainOptions one = two;
  one.epochs = 1;
  Capture c1;
  (void)train(one, c1);
  const TrainState& end1 = c1.states.back();  // after the last step of epoch 0
  Capture c2;
  (void)train(two, c2, &end1);
  std::vector<std::vector<std::uint64_t>> all = c1.steps;
  all.insert(all.end(), c2.steps.begin(), c2.steps.end());
  CHECK(all == straight.steps);
  CHECK(c2.tests == straight.tests);
  // and fewer epochs than the checkpoint has done are refused
  TrainState later = straight.states.back();
  CHECK_THROWS_WITH_AS(train(one, c2, &later), doctest::Contains("beyond this run's 5 steps"),
                       std::invalid_argument);
}

TEST_CASE("checkpoint.mismatched_options_are_named") {
  TrainOptions o = tiny("mellempudi2019");
  o.checkpoint_every = 2;
  o.epochs = 1;
  Capture c;
  (void)train(o, c);
  const TrainState s = c.states.front();
  Capture x;
  TrainOptions b = o;
  b.lr = 0.1;
  CHECK_THROWS_WITH_AS(train(b, x, &s),
                       doctest::Contains("written with lr '0.05', this run has '0.1'"),
                       std::invalid_argument);
  b = o;
  b.seed = 12;
  CHECK_THROWS_WITH_AS(train(b, x, &s), doctest::Contains("seed '11'"), std::invalid_argument);
  b = o;
  b.recipe.error.round = fp8sim::parse_rounding("sr:4");
  CHECK_THROWS_WITH_AS(train(b, x, &s), doctest::Contains("recipe differs at error.round"),
                       std::invalid_argument);
  const auto d = config_differences(s, b);
  REQUIRE(d.size() == 1);
  CHECK(d[0].key == "recipe");
  CHECK(d[0].detail == "error.round");
  // threads, epochs, stats and the interval may differ
  b = o;
  b.threads = 3;
  b.stats_every = 0;
  b.checkpoint_every = 0;
  CHECK(config_differences(s, b).empty());
  // a state that does not fit the model
  TrainState bad = s;
  bad.params[0].master[0] ^= 1;  // the working values no longer those of the codes
  CHECK_THROWS_WITH_AS(train(o, x, &bad), doctest::Contains("not those of its master codes"),
                       std::invalid_argument);
  bad = s;
  bad.step += 1;
  CHECK_THROWS_WITH_AS(train(o, x, &bad), doctest::Contains("progress is inconsistent"),
                       std::invalid_argument);
  bad = s;
  std::swap(bad.order[0], bad.order[1]);
  CHECK_THROWS_WITH_AS(train(o, x, &bad), doctest::Contains("data order"), std::invalid_argument);
}

TEST_CASE("checkpoint.files_are_replaced_atomically_and_checked") {
  TrainOptions o = tiny("fp32");
  o.epochs = 1;
  o.checkpoint_every = 2;
  Capture c;
  (void)train(o, c);
  REQUIRE(c.states.size() == 3);  // after steps 1, 3 and the last, 4
  const fs::path dir = temp_dir();
  const fs::path file = dir / "c.h5";
  save_checkpoint(file, c.states[0], info());
  save_checkpoint(file, c.states[1], info());  // replaces it
  CHECK(load_checkpoint(file).step == c.states[1].step);
  CHECK_FALSE(fs::exists(checkpoint_temp_path(file)));
  // a stale temporary file of a killed writer is overwritten
  { std::ofstream(checkpoint_temp_path(file)) << "half a file"; }
  save_checkpoint(file, c.states[0], info());
  CHECK(load_checkpoint(file).step == c.states[0].step);
  CHECK_FALSE(fs::exists(checkpoint_temp_path(file)));
  // a run's CheckpointFile holds a lock on the file it wrote last: another one cannot
  // lock it (a second --resume while the run lives); released with the run
  {
    std::optional<CheckpointFile> writer(std::in_place, file);
    writer->save(c.states[1], info());
    writer->save(c.states[2], info());  // the lock moves to the new file
    CheckpointFile other(file);
    CHECK_THROWS_WITH_AS(other.lock_existing(), doctest::Contains("is in use"), CheckpointError);
    CHECK(load_checkpoint(file).step == c.states[2].step);  // readers are not disturbed
    writer.reset();
    other.lock_existing();
  }
  // a missing folder: nothing written, the error names the file
  CHECK_THROWS_WITH_AS(save_checkpoint(dir / "nosuch" / "c.h5", c.states[0], info()),
                       doctest::Contains("does not exist"), fp8sim::analysis::IoError);
  // broken files
  CHECK_THROWS_WITH_AS((void)load_checkpoint(dir / "none.h5"), doctest::Contains("no such file"),
                       fp8sim::analysis::IoError);
  {
    std::ifstream in(file, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "cut.h5", std::ios::binary) << data.substr(0, data.size() / 2);
  }
  CHECK_THROWS_AS((void)load_checkpoint(dir / "cut.h5"), std::runtime_error);
  {
    const hid_t f = H5Fcreate((dir / "other.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
  }
  CHECK_THROWS_WITH_AS((void)load_checkpoint(dir / "other.h5"),
                       doctest::Contains("is not a training checkpoint"), CheckpointError);
  {  // a checkpoint with a dataset gone
    fs::copy_file(file, dir / "gap.h5");
    const hid_t f = H5Fopen((dir / "gap.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "/master/fc1.weight", H5P_DEFAULT);
    H5Fclose(f);
  }
  CHECK_THROWS_WITH_AS((void)load_checkpoint(dir / "gap.h5"),
                       doctest::Contains("/master/fc1.weight is missing"), CheckpointError);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint.transformer_resumes_bit_identical") {
  // dropout masks and SR bits keyed by the step, the label-smoothed token loss, AdamW; token
  // counts in the epoch sums
  TrainOptions o;
  o.workload = "transformer";
  o.task = "numbers";
  o.max_number = 999;
  o.recipe = recipe_preset("mellempudi2019");
  o.train_size = 48;
  o.validation_size = 8;
  o.test_size = 8;
  o.batch = 16;  // 3 steps per epoch
  o.epochs = 2;
  o.seed = 3;
  o.optimizer = "adamw";
  o.lr = 3e-3;
  o.checkpoint_every = 1;
  check_resume(o, {1, 3});
}
