// tests/workloads/test_train.cpp — the training loop (workloads/train.hpp) on the bundled
// Fashion-MNIST subset: the same result bit for bit for any thread count, a power-of-two
// loss scale changes nothing without quantization, the networks learn, stopping, errors.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "workloads/train.hpp"

using namespace fp8sim::workloads;

namespace {

// Records every step's loss (bits), scale and skip, and can stop the run at a step.
class Log final : public TrainObserver {
 public:
  explicit Log(std::uint64_t stop_at = ~std::uint64_t{0}) : stop_at_(stop_at) {}
  void on_step(const StepReport& r) override {
    losses.push_back(std::bit_cast<std::uint64_t>(r.loss));
    scales.push_back(r.loss_scale);
    skipped += r.skipped;
    last = r.step;
  }
  bool stop_requested() override { return last >= stop_at_; }
  std::vector<std::uint64_t> losses;
  std::vector<double> scales;
  std::uint64_t skipped = 0, last = 0;

 private:
  std::uint64_t stop_at_;
};

TrainOptions small(const std::string& recipe) {
  TrainOptions o;
  o.recipe = recipe_preset(recipe);
  o.data_dir = FP8SIM_TEST_DATA_DIR "/fashion-mnist";
  o.train_size = 300;
  o.validation_size = 100;
  o.test_size = 200;
  o.batch = 50;
  o.epochs = 2;
  o.seed = 7;
  o.mlp_sizes = {784, 32, 10};
  o.lr = 0.05;
  return o;
}

}  // namespace

TEST_CASE("train.same_result_for_1_2_and_8_threads") {
  // every random bit is keyed by (seed, step, tensor, element) and no reduction depends on
  // the thread count: the whole run is the same bit for bit
  for (const std::string recipe : {"mellempudi2019", "ocp-fp8"}) {
    CAPTURE(recipe);
    std::vector<std::uint64_t> first;
    double acc = -1, loss = -1;
    for (int threads : {1, 2, 8}) {
      CAPTURE(threads);
      TrainOptions o = small(recipe);
      o.threads = threads;
      o.train_size = 200;
      o.epochs = 1;
      Log log;
      const TrainResult r = train(o, log);
      CHECK(r.steps == 4);
      if (first.empty()) {
        first = log.losses;
        acc = r.test.accuracy;
        loss = r.test.loss;
      } else {
        CHECK(log.losses == first);
        CHECK(r.test.accuracy == acc);
        CHECK(std::bit_cast<std::uint64_t>(r.test.loss) == std::bit_cast<std::uint64_t>(loss));
      }
    }
  }
}

TEST_CASE("train.power_of_two_loss_scale_is_exact_without_quantization") {
  // fp32 recipe: scaling the loss by 2^10 scales every gradient exactly (no quantizer, no
  // underflow here), unscaling by 2^-10 is exact: the run equals the unscaled one bit for bit
  TrainOptions a = small("fp32"), b = small("fp32");
  b.recipe.loss_scaler = "static:1024";
  Log la, lb;
  const TrainResult ra = train(a, la), rb = train(b, lb);
  CHECK(la.losses == lb.losses);
  CHECK(lb.scales.front() == 1024.0);
  CHECK(std::bit_cast<std::uint64_t>(ra.test.loss) == std::bit_cast<std::uint64_t>(rb.test.loss));
  // a scale that is not a power of two changes the bits (the check above can fail)
  TrainOptions c = small("fp32");
  c.recipe.loss_scaler = "static:1000";
  Log lc;
  (void)train(c, lc);
  CHECK(lc.losses != la.losses);
}

TEST_CASE("train.networks_learn_under_fp32_and_the_papers_recipe") {
  // 2 epochs of 1000 images: far above chance (10%) under both recipes
  for (const std::string recipe : {"fp32", "mellempudi2019"}) {
    CAPTURE(recipe);
    TrainOptions o = small(recipe);
    o.train_size = 900;
    o.mlp_sizes = {784, 64, 10};
    Log log;
    const TrainResult r = train(o, log);
    MESSAGE(recipe << ": test accuracy " << r.test.accuracy << ", loss " << r.test.loss);
    CHECK(r.test.accuracy > 0.55);
    CHECK(r.skipped_steps == log.skipped);
  }
}

TEST_CASE("train.resnet_step_runs") {
  TrainOptions o = small("mellempudi2019");
  o.workload = "resnet";
  o.resnet_width = 4;
  o.train_size = 16;
  o.validation_size = 0;
  o.test_size = 16;
  o.batch = 8;
  o.epochs = 1;
  Log log;
  const TrainResult r = train(o, log);
  CHECK(r.steps == 2);
  CHECK(r.test.count == 16);
  CHECK(std::isfinite(r.final_loss));
}

TEST_CASE("train.stop_requested_ends_after_the_current_step") {
  TrainOptions o = small("fp32");
  Log log(2);
  const TrainResult r = train(o, log);
  CHECK(r.stopped);
  CHECK(r.steps == 3);
  CHECK(log.losses.size() == 3);
  CHECK(r.test.count == 0);  // a stopped run is not evaluated
}

TEST_CASE("train.bad_options_are_named") {
  Log log;
  TrainOptions o = small("fp32");
  o.workload = "lenet";
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("unknown workload 'lenet'"),
                       std::invalid_argument);
  o = small("fp32");
  o.batch = 0;
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("batch size 0"), std::invalid_argument);
  o = small("fp32");
  o.train_size = 5000;  // the bundled subset has 1000 training images
  CHECK_THROWS_AS(train(o, log), std::exception);
  o = small("fp32");
  o.recipe.loss_scaler = "sometimes";
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("unknown loss scaler 'sometimes'"),
                       std::invalid_argument);
  o = small("fp32");
  o.data_dir = "/nonexistent/fashion";
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("dataset-fashion-mnist"), std::exception);
}

namespace {

// The transformer on the synthetic numbers -> words task (or the bundled freedict subset).
TrainOptions seq(const std::string& recipe, const std::string& task = "numbers") {
  TrainOptions o;
  o.workload = "transformer";
  o.task = task;
  o.recipe = recipe_preset(recipe);
  if (task == "freedict") o.data_dir = FP8SIM_TEST_DATA_DIR "/freedict";
  o.max_number = 999;
  o.train_size = 96;
  o.validation_size = 16;
  o.test_size = 16;
  o.batch = 32;
  o.epochs = 1;
  o.seed = 5;
  o.optimizer = "adamw";
  o.lr = 3e-3;
  return o;
}

}  // namespace

TEST_CASE("train.transformer_same_result_for_1_and_2_threads") {
  // dropout masks, SR bits and label smoothing: the whole run is the same bit for bit
  std::vector<std::uint64_t> first;
  double test_loss = -1, exact = -1;
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    TrainOptions o = seq("mellempudi2019");
    o.threads = threads;
    Log log;
    const TrainResult r = train(o, log);
    CHECK(r.steps == 3);
    CHECK(r.test.count == 16);
    CHECK(r.test.exact_match >= 0);  // a sequence workload measures it
    if (first.empty()) {
      first = log.losses;
      test_loss = r.test.loss;
      exact = r.test.exact_match;
    } else {
      CHECK(log.losses == first);
      CHECK(std::bit_cast<std::uint64_t>(r.test.loss) == std::bit_cast<std::uint64_t>(test_loss));
      CHECK(r.test.exact_match == exact);
    }
  }
}

TEST_CASE("train.transformer_learns_the_numbers_task") {
  // 8 epochs of 400 pairs: the per-token loss falls far below its start (ln of ~35 target
  // characters = 3.6) and teacher-forced token accuracy far above chance, under both recipes
  for (const std::string recipe : {"fp32", "mellempudi2019"}) {
    CAPTURE(recipe);
    TrainOptions o = seq(recipe);
    o.train_size = 400;
    o.test_size = 50;
    o.validation_size = 0;
    o.epochs = 8;
    o.threads = 2;
    o.stats_every = 0;
    Log log;
    const TrainResult r = train(o, log);
    MESSAGE(recipe << ": test token accuracy " << r.test.accuracy << ", loss " << r.test.loss
                   << ", exact " << r.test.exact_match);
    CHECK(r.test.loss < 2.0);
    CHECK(r.test.accuracy > 0.5);
    CHECK(std::isnan(r.validation.exact_match));  // no validation split
  }
}

TEST_CASE("train.transformer_reads_freedict_and_images_have_no_exact_match") {
  TrainOptions o = seq("fp32", "freedict");
  o.train_size = 64;
  o.validation_size = 8;
  o.test_size = 8;
  Log log;
  const TrainResult r = train(o, log);
  CHECK(r.steps == 2);
  CHECK(std::isfinite(r.test.loss));
  CHECK(r.test.count == 8);
  // an image workload has no exact match; a missing dictionary folder names its package
  TrainOptions m = small("fp32");
  m.train_size = 100;
  m.epochs = 1;
  Log lm;
  CHECK(std::isnan(train(m, lm).test.exact_match));
  TrainOptions bad = seq("fp32", "freedict");
  bad.data_dir = "/nonexistent/dictd";
  Log lb;
  CHECK_THROWS_WITH((void)train(bad, lb), doctest::Contains("dict-freedict-eng-deu"));
}
