// workloads/train.cpp — the training loop.
#include "workloads/train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "formats/formats.hpp"
#include "rounding/random_bits.hpp"
#include "workloads/checkpoint.hpp"
#include "workloads/data/fashion_mnist.hpp"
#include "workloads/optim/optimizer.hpp"
#include "workloads/workload.hpp"

namespace fp8sim::workloads {

LossScalerConfig parse_loss_scaler(const std::string& spec) {
  LossScalerConfig c;
  if (spec == "none") {
    c.kind = LossScalerKind::none;
  } else if (spec == "dynamic") {
    c.kind = LossScalerKind::dynamic;
  } else if (spec == "enhanced") {
    c = LossScalerConfig::enhanced_default();
  } else if (spec == "static" || spec.rfind("static:", 0) == 0) {
    c.kind = LossScalerKind::fixed;
    if (spec.size() > 7) {
      const std::string v = spec.substr(7);
      char* end = nullptr;
      const double s = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(s > 0) || !std::isfinite(s))
        throw std::invalid_argument(fmt::format(
            "loss scaler {}: want static:S with S a positive finite number", shown(spec)));
      c.init_scale = s;
    }
  } else {
    throw std::invalid_argument(fmt::format(
        "unknown loss scaler {} (allowed: none, static[:S], dynamic, enhanced)", shown(spec)));
  }
  validate(c);
  return c;
}

namespace {

std::unique_ptr<Optimizer> make_optimizer(const TrainOptions& o) {
  if (o.optimizer == "sgd") {
    SgdConfig c;
    c.lr = o.lr;
    c.momentum = o.momentum;
    c.weight_decay = o.weight_decay;
    return std::make_unique<Sgd>(c);
  }
  if (o.optimizer == "adamw") {
    AdamWConfig c;
    c.lr = o.lr;
    c.weight_decay = o.weight_decay;
    return std::make_unique<AdamW>(c);
  }
  throw std::invalid_argument(
      fmt::format("unknown optimizer {} (allowed: sgd, adamw)", shown(o.optimizer)));
}

// Loss and accuracy over a split in stored order (eval mode: no dropout, BN running
// statistics, no amax recorded); the exact match of greedy decoding where the workload has it.
EvalReport evaluate(Workload& w, Split split, const TrainOptions& o, const Recipe& r,
                    std::uint64_t step, ScaleStates& scales) {
  EvalReport e;
  const std::size_t count = w.size(split);
  if (count == 0) return e;
  Batch b;
  double loss_sum = 0;
  std::size_t correct = 0, units = 0;
  const StepContext ctx{o.seed ^ 0xE7A1ull, step, o.threads, nullptr, &scales, false};
  for (std::size_t first = 0; first < count; first += o.batch) {
    const std::size_t n = std::min(o.batch, count - first);
    w.gather(split, nullptr, first, n, b);
    const BatchLoss l = w.forward_loss(b, r, ctx, 1.0, false);
    loss_sum += l.loss * static_cast<double>(l.units);
    correct += l.correct;
    units += l.units;
  }
  e.count = count;
  e.loss = units ? loss_sum / static_cast<double>(units) : 0.0;
  e.accuracy = units ? static_cast<double>(correct) / static_cast<double>(units) : 0.0;
  e.exact_match = w.exact_match(split, o.batch, r, ctx);
  return e;
}

// One optimizer step for every parameter: the update from the master values and the
// (unscaled) gradient, rounded into the master copy, the working weights re-read from it.
std::vector<std::pair<std::string, MasterUpdateStats>> apply_updates(
    const std::vector<Param*>& params, Optimizer& optimizer, MasterWeights& master, double lr,
    std::uint64_t seed, std::uint64_t step) {
  std::vector<std::pair<std::string, MasterUpdateStats>> stats;
  std::vector<double> delta;
  for (std::size_t i = 0; i < params.size(); ++i) {
    Param& p = *params[i];
    delta.assign(p.size(), 0.0);
    optimizer.update(i, master.values(i), p.grad, lr, delta);
    stats.emplace_back(p.name, master.apply(i, delta, seed, step));
    const auto v = master.values(i);
    std::copy(v.begin(), v.end(), p.value.begin());
  }
  return stats;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Where a resumed run starts, and the epoch's sums so far.
struct Start {
  std::uint64_t step = 0, images = 0, epoch = 0, position = 0;
  double loss_sum = 0;
  std::size_t correct = 0, seen = 0, units = 0;
  double seconds = 0;
};

// Checks a checkpoint against the options and the model, then puts it in place: weights,
// master codes, BN buffers, optimizer, scaler, delayed scales. Throws std::invalid_argument
// naming what does not fit.
Start restore(const TrainState& s, const TrainOptions& opt, Workload& model,
              const std::vector<Param*>& params, MasterWeights& master, Optimizer& optimizer,
              LossScaler& scaler, ScaleStates& scales, std::size_t count, const EpochOrder& order) {
  auto refuse = [](const std::string& why) {
    throw std::invalid_argument("cannot resume from the checkpoint: " + why);
  };
  const auto diffs = config_differences(s, opt);
  if (!diffs.empty()) {
    const ConfigDifference& d = diffs.front();
    if (d.key == "recipe")
      refuse(fmt::format("its recipe differs at {}: {} there, {} here", d.detail, shown(d.saved),
                         shown(d.current)));
    refuse(fmt::format("it was written with {} {}, this run has {}", d.key, shown(d.saved),
                       shown(d.current)));
  }
  const std::size_t per_epoch = (count + opt.batch - 1) / opt.batch;
  const std::uint64_t done = s.epoch * per_epoch + (s.position + opt.batch - 1) / opt.batch;
  if (s.position > count || (s.position % opt.batch != 0 && s.position != count) ||
      s.step != done || s.images != s.epoch * count + s.position || s.epoch_seen != s.position ||
      s.epoch_correct > s.epoch_units || (s.epoch_units == 0) != (s.epoch_seen == 0))
    refuse(fmt::format("its progress is inconsistent (step {}, epoch {}, position {} of {})",
                       s.step, s.epoch, s.position, count));
  if (s.step > per_epoch * opt.epochs)
    refuse(fmt::format("it is at step {}, beyond this run's {} steps ({} epochs)", s.step,
                       per_epoch * opt.epochs, opt.epochs));
  const std::vector<std::size_t> perm = order.permutation(s.epoch);
  if (!std::equal(perm.begin(), perm.end(), s.order.begin(), s.order.end()))
    refuse(fmt::format("its data order of epoch {} differs from this run's", s.epoch));
  if (s.params.size() != params.size())
    refuse(fmt::format("it holds {} parameters, the model {}", s.params.size(), params.size()));
  OptimizerState os;
  os.kind = s.optimizer;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const ParamState& ps = s.params[i];
    Param& p = *params[i];
    if (ps.name != p.name || ps.shape != p.shape || ps.value.size() != p.size())
      refuse(fmt::format("its parameter {} is {} {}, the model's is {} {}", i, shown(ps.name),
                         fmt::join(ps.shape, "x"), shown(p.name), fmt::join(p.shape, "x")));
    if (ps.optimizer_state.size() != s.optimizer_state_per_element * p.size())
      refuse(fmt::format("its optimizer state of {} has the wrong size", p.name));
    try {
      master.import_codes(i, ps.master);
    } catch (const std::exception& e) {
      refuse(fmt::format("the master codes of {}: {}", p.name, e.what()));
    }
    if (!same_bits(master.values(i), ps.value))
      refuse(fmt::format("the values of {} are not those of its master codes", p.name));
    std::copy(ps.value.begin(), ps.value.end(), p.value.begin());
    os.sizes.push_back(p.size());
    os.steps.push_back(ps.optimizer_steps);
    os.buffers.push_back(ps.optimizer_state);
  }
  try {
    optimizer.import_state(os);
  } catch (const std::exception& e) {
    refuse(fmt::format("its optimizer state: {}", e.what()));
  }
  const std::vector<Buffer*> buffers = model.buffers();
  if (s.buffers.size() != buffers.size())
    refuse(fmt::format("it holds {} buffers, the model {}", s.buffers.size(), buffers.size()));
  for (Buffer* b : buffers) {
    const auto it = std::find_if(s.buffers.begin(), s.buffers.end(),
                                 [&](const BufferState& x) { return x.name == b->name; });
    if (it == s.buffers.end()) refuse(fmt::format("it has no buffer {}", b->name));
    if (it->shape != b->shape || it->value.size() != b->size())
      refuse(fmt::format("its buffer {} is {}, the model's {}", b->name, fmt::join(it->shape, "x"),
                         fmt::join(b->shape, "x")));
    b->value = it->value;
  }
  if (s.loss_scaler != to_string(scaler.config().kind))
    refuse(fmt::format("its loss scaler is {}, this run's {}", shown(s.loss_scaler),
                       to_string(scaler.config().kind)));
  try {
    scaler.import_state(s.scaler);
  } catch (const std::exception& e) {
    refuse(fmt::format("its loss scaler state: {}", e.what()));
  }
  for (const auto& [name, st] : s.scales) {
    if (!(st.scale > 0) || !std::isfinite(st.scale) ||
        (st.history.empty() ? st.next != 0 : st.next >= st.history.size()))
      refuse(fmt::format("its delayed scaling state of {} is damaged", shown(name)));
  }
  scales = s.scales;
  Start start;
  start.step = s.step;
  start.images = s.images;
  start.epoch = s.epoch;
  start.position = s.position;
  start.loss_sum = s.epoch_loss_sum;
  start.correct = s.epoch_correct;
  start.seen = s.epoch_seen;
  start.units = s.epoch_units;
  start.seconds = s.seconds;
  return start;
}

}  // namespace

StepTiming time_training_steps(const TrainOptions& opt, std::size_t steps, bool with_stats) {
  if (opt.batch == 0) throw std::invalid_argument("batch size 0 is not allowed (at least 1)");
  Recipe recipe = opt.recipe;
  recipe_check(recipe);
  auto model = make_workload(opt, false);
  recipe.resolve_exempt(model->first_layer(), model->last_layer());
  auto optimizer = make_optimizer(opt);
  LossScaler scaler(parse_loss_scaler(recipe.loss_scaler));
  const std::vector<Param*> params = model->params();
  MasterWeights master(recipe.master, recipe.master_round, opt.threads);
  for (Param* p : params) {
    master.add_param(p->value);
    (void)optimizer->add_param(p->size());
  }
  Batch batch;
  model->synthetic(opt.batch, opt.seed, batch);
  ScaleStates scales;
  std::size_t units = 0;
  double update = 0;
  StepStats stats;
  auto one_step = [&](std::uint64_t step) {
    stats.clear();
    const StepContext ctx{opt.seed, step, opt.threads, with_stats ? &stats : nullptr,
                          &scales,  true};
    const BatchLoss l = model->forward_loss(batch, recipe, ctx, scaler.scale(), true);
    units = l.units;
    model->backward(l.grad, recipe, ctx);
    const ScopedTime timed(update);
    bool found_inf = false;
    for (Param* p : params) found_inf |= scaler.unscale(p->grad);
    if (!scaler.update(found_inf, step)) return;
    (void)apply_updates(params, *optimizer, master, opt.lr, opt.seed, step);
  };
  one_step(0);  // warm-up
  layer_times() = {};
  update = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t s = 1; s <= steps; ++s) one_step(s);
  StepTiming t;
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t.images_per_second = t.seconds > 0 ? static_cast<double>(opt.batch * steps) / t.seconds : 0.0;
  t.units_per_second = t.seconds > 0 ? static_cast<double>(units * steps) / t.seconds : 0.0;
  t.unit = model->unit();
  t.gemm = layer_times().gemm;
  t.quantize = layer_times().quantize;
  t.lowering = layer_times().lowering;
  t.norm = layer_times().norm;
  t.update = update;
  return t;
}

TrainResult train(const TrainOptions& opt, TrainObserver& observer, const TrainState* resume) {
  if (opt.batch == 0) throw std::invalid_argument("batch size 0 is not allowed (at least 1)");
  if (opt.epochs == 0) throw std::invalid_argument("epochs 0 is not allowed (at least 1)");
  Recipe recipe = opt.recipe;
  recipe_check(recipe);
  const LrSchedule schedule(opt.schedule, opt.lr);
  LossScaler scaler(parse_loss_scaler(recipe.loss_scaler));
  auto model = make_workload(opt, true);
  recipe.resolve_exempt(model->first_layer(), model->last_layer());
  auto optimizer = make_optimizer(opt);
  const std::size_t train_count = model->size(Split::train);
  if (train_count == 0) throw std::invalid_argument("the training split is empty");

  const std::vector<Param*> params = model->params();
  MasterWeights master(recipe.master, recipe.master_round, opt.threads);
  std::vector<std::pair<std::string, std::size_t>> names;
  for (Param* p : params) {
    master.add_param(p->value);
    (void)optimizer->add_param(p->size());
    const auto v = master.values(master.param_count() - 1);
    std::copy(v.begin(), v.end(), p->value.begin());  // working weights = master values
    names.emplace_back(p->name, p->size());
  }
  const std::size_t per_epoch = (train_count + opt.batch - 1) / opt.batch;

  ScaleStates scales;
  StepStats stats;
  const EpochOrder order(train_count, opt.seed);
  TrainResult res;
  Start start;
  if (resume) {
    start = restore(*resume, opt, *model, params, master, *optimizer, scaler, scales, train_count,
                    order);
    res.steps = resume->step;
    res.final_loss = resume->final_loss;
    res.validation = resume->validation;
  }
  observer.on_start(names, per_epoch * opt.epochs);

  Batch batch;
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return start.seconds +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::uint64_t step = start.step, images_seen = start.images;
  std::uint64_t units_seen = 0;  // since this process started (rates)
  // The whole state after step `step` (checkpoints), `position` images into the epoch.
  auto state = [&](std::size_t epoch, std::size_t position, const std::vector<std::size_t>& perm,
                   double loss_sum, std::size_t correct, std::size_t seen, std::size_t units) {
    TrainState st;
    st.step = step + 1;
    st.epoch = epoch;
    st.position = position;
    st.images = images_seen;
    st.order.assign(perm.begin(), perm.end());
    st.epoch_loss_sum = loss_sum;
    st.epoch_correct = correct;
    st.epoch_seen = seen;
    st.epoch_units = units;
    st.final_loss = res.final_loss;
    st.validation = res.validation;
    st.seconds = seconds();
    st.epochs = opt.epochs;
    st.checkpoint_every = opt.checkpoint_every;
    const OptimizerState os = optimizer->export_state();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Param& p = *params[i];
      st.params.push_back(
          {p.name, p.shape, p.value, master.export_codes(i), os.steps[i], os.buffers[i]});
    }
    for (const Buffer* b : model->buffers()) st.buffers.push_back({b->name, b->shape, b->value});
    st.master_format = recipe.master.name;
    st.master_round = to_string(recipe.master_round);
    st.optimizer = os.kind;
    st.optimizer_state_per_element = optimizer->state_per_element();
    st.loss_scaler = std::string(to_string(scaler.config().kind));
    st.scaler = scaler.export_state();
    st.min_scale = scaler.min_scale_at(step + 1);
    st.scales = scales;
    st.config = checkpoint_config(opt);
    return st;
  };
  for (std::size_t epoch = start.epoch; epoch < opt.epochs && !res.stopped; ++epoch) {
    const std::vector<std::size_t> perm = order.permutation(epoch);
    double loss_sum = 0;
    std::size_t correct = 0, seen = 0, units = 0, first0 = 0;
    if (resume && epoch == start.epoch) {
      loss_sum = start.loss_sum;
      correct = start.correct;
      seen = start.seen;
      units = start.units;
      first0 = start.position;
    }
    for (std::size_t first = first0; first < train_count; first += opt.batch, ++step) {
      const std::size_t n = std::min(opt.batch, train_count - first);
      model->gather(Split::train, &perm, first, n, batch);
      const bool with_stats = opt.stats_every > 0 && step % opt.stats_every == 0;
      stats.clear();
      const StepContext ctx{opt.seed, step, opt.threads, with_stats ? &stats : nullptr,
                            &scales,  true};
      const double scale = scaler.scale();
      const BatchLoss lr = model->forward_loss(batch, recipe, ctx, scale, true);
      model->backward(lr.grad, recipe, ctx);
      bool found_inf = false;
      for (Param* p : params) found_inf |= scaler.unscale(p->grad);
      const bool apply = scaler.update(found_inf, step);
      StepReport rep;
      rep.step = step;
      rep.epoch = epoch;
      rep.loss = lr.loss;
      rep.accuracy =
          lr.units ? static_cast<double>(lr.correct) / static_cast<double>(lr.units) : 0.0;
      rep.lr = schedule.lr_at(step);
      rep.loss_scale = scale;
      rep.skipped = !apply;
      if (apply) {
        rep.updates = apply_updates(params, *optimizer, master, rep.lr, opt.seed, step);
      }
      images_seen += n;
      rep.overflow_events = scaler.overflow_events();
      rep.images = images_seen;
      units_seen += lr.units;
      rep.units = units_seen;
      rep.unit = model->unit();
      rep.seconds = seconds();
      if (with_stats) {
        rep.stats = &stats;
        for (Param* p : params) rep.grads.emplace_back(p->name, &p->grad);
      }
      observer.on_step(rep);
      loss_sum += lr.loss * static_cast<double>(lr.units);
      correct += lr.correct;
      seen += n;
      units += lr.units;
      res.final_loss = lr.loss;
      res.steps = step + 1;
      const bool stop = observer.stop_requested();
      const bool last = step + 1 == per_epoch * opt.epochs;  // the run's last step
      if (opt.checkpoint_every > 0 && (stop || last || (step + 1) % opt.checkpoint_every == 0))
        observer.on_checkpoint(state(epoch, first + n, perm, loss_sum, correct, seen, units));
      if (stop) {
        res.stopped = true;
        ++step;
        break;
      }
    }
    if (res.stopped) break;
    EpochReport er;
    er.step = step - 1;
    er.epoch = epoch;
    er.train_loss = units ? loss_sum / static_cast<double>(units) : 0.0;
    er.train_accuracy = units ? static_cast<double>(correct) / static_cast<double>(units) : 0.0;
    er.validation = evaluate(*model, Split::validation, opt, recipe, step, scales);
    er.seconds = seconds();
    res.validation = er.validation;
    observer.on_epoch(er);
  }
  res.skipped_steps = scaler.skipped_steps();
  res.final_scale = scaler.scale();
  if (!res.stopped) {
    res.test = evaluate(*model, Split::test, opt, recipe, step, scales);
    observer.on_test(step == 0 ? 0 : step - 1, res.test);
  }
  return res;
}

}  // namespace fp8sim::workloads
