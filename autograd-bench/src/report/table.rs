//! The report as plain-text tables.

use std::fmt::Write as _;

use crate::report::seed_loop::RunResult;
use crate::report::{Report, bytes};

impl Report {
    /// The report as plain-text tables.
    pub fn table(&self) -> String {
        let mut out = String::new();
        self.seed_loop_table(&mut out);
        self.memory_modes_table(&mut out);
        self.deep_chains_table(&mut out);
        self.kept_intermediate_table(&mut out);
        self.second_cycle_table(&mut out);
        self.training_table(&mut out);
        self.cnn_table(&mut out);
        self.recurrent_table(&mut out);
        self.value_memory_table(&mut out);
        self.budget_table(&mut out);
        self.allocators_table(&mut out);
        out
    }

    fn seed_loop_table(&self, out: &mut String) {
        let c = &self.config;
        let _ = writeln!(
            out,
            "seed loop: y = square(square(square(x))), backward, gradient read and cleared, on fresh \
             {}-element arrays; {} thread(s); allocator: {}; intermediate gradients {}; collection: {}",
            c.size,
            c.threads,
            c.allocator,
            if c.retain_grad { "retained" } else { "freed" },
            c.policy,
        );
        let _ = writeln!(
            out,
            "{:<22} {:<21} {:>8} {:>8} {:>9} {:>8} {:>8} {:>12} {:>11} {:>10} {:>10} {:>10}",
            "subject",
            "freeing",
            "iters",
            "wall s",
            "graphs/s",
            "vs naive",
            "vs Rc",
            "live var/fn",
            "live heap",
            "leak/iter",
            "predicted",
            "peak heap",
        );
        for r in &self.runs {
            let _ = writeln!(
                out,
                "{:<22} {:<21} {:>8} {:>8.3} {:>9.0} {:>7.2}x {:>7.2}x {:>12} {:>11} {:>10} {:>10} {:>10}",
                r.subject.to_string(),
                r.freeing,
                r.iterations,
                r.wall_seconds,
                r.graphs_per_second,
                r.relative_to_raw_naive,
                r.relative_to_rc_weak,
                format!("{}/{}", r.live_variables_after, r.live_functions_after),
                bytes(r.live_heap_after_bytes as f64),
                bytes(r.leaked_bytes_per_iteration),
                bytes(r.predicted_leak_per_iteration as f64),
                bytes(r.peak_heap_bytes as f64),
            );
        }
        for r in self.runs.iter().filter(|r| r.collections.is_some()) {
            Self::collections_line(out, r);
        }
        if let Some(capped) = self.runs.iter().find(|r| r.capped_by_budget) {
            let _ = writeln!(
                out,
                "runs that keep their graphs stop at a heap budget of {} in all ({} iterations for {}); \
                 their throughput is bound by page faults on fresh memory, not by the graph.",
                bytes(self.config.heap_budget as f64),
                capped.iterations,
                capped.subject,
            );
        }
        if !self.config.heap_measured {
            let _ = writeln!(
                out,
                "(heap not measured: the counting allocator is not installed)"
            );
        }
    }

    fn collections_line(out: &mut String, r: &RunResult) {
        let Some(c) = r.collections else { return };
        let _ = writeln!(
            out,
            "{}: {} collections, {:.1} ms collecting in all ({:.1}% of the run), longest pause {:.2} ms; \
             peak {}; after one more collection {} nodes and {} left",
            r.subject,
            c.count,
            c.total_seconds * 1e3,
            100.0 * c.total_seconds / r.wall_seconds,
            c.longest_pause_seconds * 1e3,
            bytes(r.peak_heap_bytes as f64),
            r.live_nodes_after_collection.unwrap_or(0),
            bytes(r.live_heap_after_collection_bytes.unwrap_or(0) as f64),
        );
    }

    fn memory_modes_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\nseed loop on one thread ({}): building no graph, keeping gradients",
            self.config.default_strategy
        );
        let _ = writeln!(
            out,
            "{:<38} {:>9} {:>12} {:>11}",
            "mode", "µs/iter", "result keeps", "peak heap"
        );
        for m in &self.memory_modes {
            let _ = writeln!(
                out,
                "{:<38} {:>9.1} {:>12} {:>11}",
                m.mode,
                m.micros_per_iteration,
                bytes(m.kept_heap_bytes as f64),
                bytes(m.peak_heap_bytes as f64)
            );
        }
    }

    fn deep_chains_table(&self, out: &mut String) {
        if self.deep_chains.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\ndeep chain: y = y + x, d times, backward, drop (one thread; raw: no graph, over at most 10^6 ops)"
        );
        let _ = writeln!(
            out,
            "{:<10} {:>10} {:>9} {:>9} {:>12} {:>11} {:>10}",
            "strategy", "ops", "seconds", "ns/op", "raw ns/op", "peak/op", "live after"
        );
        for d in &self.deep_chains {
            let _ = writeln!(
                out,
                "{:<10} {:>10} {:>9.3} {:>9.1} {:>12.1} {:>11} {:>10}",
                d.strategy,
                d.ops,
                d.seconds,
                d.ns_per_op,
                d.raw_ns_per_op,
                bytes(d.peak_bytes_per_op),
                d.live_nodes_after,
            );
        }
    }

    fn kept_intermediate_table(&self, out: &mut String) {
        use crate::report::kept_intermediate::{HELD, OPS};
        if self.kept_intermediate.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\nkept intermediate: y = y + x, {OPS} times on one element; the output of op {HELD} held, the output dropped, a collection run (one thread)"
        );
        let _ = writeln!(
            out,
            "{:<22} {:<21} {:>11} {:>11} {:>11} {:>11}",
            "strategy", "freeing", "kept", "nodes", "predicted", "after drop"
        );
        for k in &self.kept_intermediate {
            let _ = writeln!(
                out,
                "{:<22} {:<21} {:>11} {:>11} {:>11} {:>11}",
                k.strategy,
                k.freeing,
                bytes(k.kept_bytes as f64),
                k.kept_nodes,
                bytes(k.predicted_bytes as f64),
                bytes(k.after_drop_bytes as f64),
            );
        }
        let _ = writeln!(
            out,
            "kept: the heap while the intermediate is held; predicted: its graph_footprint (a region counts whole); after drop: what is left once it goes too."
        );
    }

    fn second_cycle_table(&self, out: &mut String) {
        if self.second_cycle.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\nsecond cycle: x a fresh leaf, y = tanh(x), y.backward_with(create_graph), x and y dropped \
             (PyTorch issue 7343's loop; one thread)"
        );
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>16} {:>11} {:>18}",
            "strategy", "iters", "bytes left/iter", "nodes left", "after collection"
        );
        for s in &self.second_cycle {
            let _ = writeln!(
                out,
                "{:<22} {:>9} {:>16} {:>11} {:>18}",
                s.strategy,
                s.iterations,
                bytes(s.bytes_left_per_iteration),
                s.nodes_left,
                s.bytes_left_after_collection
                    .map_or_else(|| "-".to_string(), |b| bytes(b as f64)),
            );
        }
        let _ = writeln!(
            out,
            "PyTorch warns that backward(create_graph=True) \"will create a reference cycle between the \
             parameter and its gradient\"; here no function owns a leaf it reads under RcWeak, ArcWeak and Region, \
             so the cycle cannot form."
        );
    }

    fn training_table(&self, out: &mut String) {
        let Some(first) = self.training.first() else {
            return;
        };
        let _ = writeln!(
            out,
            "\ntraining: the digits MLP (64-100-10 ReLU, Adam, batches of 32), {} step(s) of one epoch on one thread (median µs of a step; graph share: the step's time beyond the same step in plain ndarray, timed here, as a share of it); heap above the heap before the model was made, the engine's buffer cache left out (the peak includes it); collected strategies collect every {} nodes under --collect auto",
            first.steps,
            super::training::COLLECT_EVERY
        );
        let _ = writeln!(
            out,
            "{:<22} {:<21} {:>8} {:>11} {:>13} {:>13} {:>11} {:>12} {:>17}",
            "strategy",
            "freeing",
            "µs/step",
            "graph share",
            "heap, step 1",
            "heap, last",
            "peak",
            "collections",
            "after collection"
        );
        for t in &self.training {
            let heap = |i: Option<&i64>| i.map_or_else(|| "-".to_string(), |&b| bytes(b as f64));
            let _ = writeln!(
                out,
                "{:<22} {:<21} {:>8.1} {:>10.0}% {:>13} {:>13} {:>11} {:>12} {:>17}",
                t.strategy,
                t.freeing,
                t.micros_per_step,
                t.graph_share * 100.0,
                heap(t.live_heap_after_step.first()),
                heap(t.live_heap_after_step.last()),
                bytes(t.peak_heap_bytes as f64),
                t.collections
                    .map_or_else(|| "-".to_string(), |c| c.to_string()),
                heap(t.after_collection_bytes.as_ref()),
            );
        }
        let _ = writeln!(
            out,
            "\nwhere a step's bytes go (step {} of a fresh model, the collector off; each part predicted from the objects and graph_footprint)",
            super::training::BREAKDOWN_STEPS
        );
        let _ = writeln!(
            out,
            "{:<22} {:<25} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>6}",
            "strategy",
            "point",
            "measured",
            "params",
            "grads",
            "optimizer",
            "batch",
            "graph",
            "earlier",
            "cache",
            "exact"
        );
        for t in &self.training {
            for b in &t.breakdown {
                let _ = writeln!(
                    out,
                    "{:<22} {:<25} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>6}",
                    t.strategy,
                    b.point,
                    b.measured,
                    b.parameters,
                    b.gradients,
                    b.optimizer,
                    b.batch,
                    b.graph,
                    b.earlier_graphs,
                    b.buffer_cache,
                    if b.unexplained == 0 {
                        "yes".to_string()
                    } else {
                        format!("{:+}", b.unexplained)
                    },
                );
            }
        }
        let in_flight = self
            .training
            .iter()
            .map(|t| t.backward_in_flight_bytes)
            .max()
            .unwrap_or(0);
        let all_exact = self.training.iter().all(|t| t.breakdown_exact);
        let _ = writeln!(
            out,
            "bytes; params: nodes, values and the model's layer list; graph: the step's nodes, saved values and outputs; earlier: graphs of earlier steps not freed yet (garbage awaiting a collection, or leaked), with the weights' old buffers they share; cache: the engine's buffer cache. The step is clear, forward, backward_once, step where graphs are freed on drop; where they are not, backward keeps the graph and the loss is dropped before the step (graph_footprint does not walk to what a released graph leaves there). Every point of every breakdown step sums exactly: {}. Beyond the points, a backward pass holds at most {} in flight (gradients not yet summed into their variables).",
            if all_exact { "yes" } else { "NO" },
            bytes(in_flight as f64),
        );
    }

    fn cnn_table(&self, out: &mut String) {
        let Some(cnn) = &self.cnn else {
            return;
        };
        let _ = writeln!(
            out,
            "\ncnn_step: the cnn_mnist network (conv 1->8 3x3 pad 1, relu, maxpool 2, conv 8->16, relu, maxpool 2, dropout 0.25, flatten, linear 784->10), batches of 32, Adam, f64, one thread: clear, forward, backward_once, step; median µs of {} steps beside the plain-ndarray floor (im2col + general_mat_mul, every buffer allocated once): {:.0} µs",
            cnn.steps, cnn.floor_micros,
        );
        let _ = writeln!(
            out,
            "{:<22} {:<21} {:>9} {:>9}",
            "strategy", "freeing", "µs/step", "vs floor"
        );
        for r in &cnn.runs {
            let _ = writeln!(
                out,
                "{:<22} {:<21} {:>9} {:>9}",
                r.strategy,
                r.freeing,
                r.micros_per_step
                    .map_or_else(|| "-".to_string(), |m| format!("{m:.0}")),
                r.vs_floor
                    .map_or_else(|| "-".to_string(), |v| format!("{v:.2}x")),
            );
        }
        // The op kinds, from the first run's split after forward.
        let kinds: Vec<&'static str> = cnn
            .runs
            .iter()
            .flat_map(|r| r.breakdown.points.iter())
            .find_map(|b| b.split)
            .map(|s| s.kinds().map(|v| v.op).collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\nwhere the CNN step's bytes go (step {} of a fresh model, the collector off; each part predicted from the objects and graph_footprint; after forward, the graph split into each op kind's values, its outputs and what it saved of its own, and the nodes)",
            super::step_memory::BREAKDOWN_STEPS
        );
        let mut header = format!(
            "{:<20} {:<15} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8}",
            "strategy", "point", "measured", "params", "grads", "adam", "batch", "graph"
        );
        for k in &kinds {
            let _ = write!(header, " {:>9}", short_op(k));
        }
        let _ = write!(
            header,
            " {:>7} {:>9} {:>8} {:>5}",
            "nodes", "earlier", "cache", "exact"
        );
        let _ = writeln!(out, "{header}");
        for r in &cnn.runs {
            for b in &r.breakdown.points {
                let point = match b.point {
                    "after forward" => "forward",
                    "after backward" if r.breakdown.released => "backward_once",
                    "after backward" => "backward",
                    _ => "optimizer step",
                };
                let mut line = format!(
                    "{:<20} {:<15} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8}",
                    r.strategy,
                    point,
                    b.measured,
                    b.parameters,
                    b.gradients,
                    b.optimizer,
                    b.batch,
                    b.graph
                );
                for k in &kinds {
                    let v = b
                        .split
                        .map_or_else(|| "".to_string(), |s| s.bytes_of(k).to_string());
                    let _ = write!(line, " {v:>9}");
                }
                let nodes = b.split.map_or_else(String::new, |s| s.nodes.to_string());
                let exact = if b.unexplained == 0 {
                    "yes".to_string()
                } else {
                    format!("{:+}", b.unexplained)
                };
                let _ = write!(
                    line,
                    " {nodes:>7} {:>9} {:>8} {exact:>5}",
                    b.earlier_graphs, b.buffer_cache
                );
                let _ = writeln!(out, "{line}");
            }
        }
        let all_exact = cnn.runs.iter().all(|r| r.breakdown.exact);
        let _ = writeln!(
            out,
            "bytes; as the training table's. The step is clear, forward, backward_once, step where graphs are freed on drop (after backward_once a released graph holds its nodes, and under Region its intermediate values too, until the loss goes); where they are not, backward keeps the graph and the loss is dropped before the step. Every point of every breakdown step sums exactly: {}.",
            if all_exact { "yes" } else { "NO" },
        );
        let _ = writeln!(
            out,
            "\nwhat each convolution saves for backward: its input and weight (buffers the graph holds anyway: the batch or the block before's output, and the parameter), against the columns it could save instead"
        );
        let _ = writeln!(
            out,
            "{:<6} {:>16} {:>14} {:>16} {:>14} {:>7}",
            "layer", "input", "weight", "input + weight", "columns", "ratio"
        );
        for c in &cnn.saved {
            let _ = writeln!(
                out,
                "{:<6} {:>16} {:>14} {:>16} {:>14} {:>6.1}x",
                c.layer,
                format!("{:?}", c.input),
                format!("{:?}", c.weight),
                bytes(c.input_and_weight_bytes as f64),
                bytes(c.columns_bytes as f64),
                c.columns_bytes as f64 / c.input_and_weight_bytes as f64,
            );
        }
        let _ = writeln!(
            out,
            "\ncheckpointing each conv block (conv, relu, maxpool) under {}, one batch: the graph between forward and backward (parameters, gradients and the batch excluded), backward_once's peak above the heap before it (a checkpointed block's recomputed graph lives in it), and their sum, the step's peak above the heap before forward",
            self.config.default_strategy
        );
        let _ = writeln!(
            out,
            "{:<26} {:>11} {:>11} {:>6} {:>13} {:>11} {:>9}",
            "mode", "kept", "predicted", "exact", "backward peak", "step peak", "ms"
        );
        for c in &cnn.checkpoint {
            let _ = writeln!(
                out,
                "{:<26} {:>11} {:>11} {:>6} {:>13} {:>11} {:>9.1}",
                c.mode,
                bytes(c.kept_bytes as f64),
                bytes(c.predicted_bytes as f64),
                if c.kept_bytes == c.predicted_bytes {
                    "yes"
                } else {
                    "NO"
                },
                bytes(c.backward_peak_bytes as f64),
                bytes((c.kept_bytes + c.backward_peak_bytes) as f64),
                c.millis,
            );
        }
    }

    fn recurrent_table(&self, out: &mut String) {
        let Some(r) = &self.recurrent else {
            return;
        };
        let _ = writeln!(
            out,
            "\nrecurrent: DeZero step 59 (an RNN of 100 and a linear layer, the sin curve one point at a time, Adam, one thread), {} windows of {} steps, each ending in cleargrad, backward_with(retain_graph(false)), unchain_backward, Adam's step (collected strategies collect at each window's end); kept: the heap after each window above the heap before the first (the counting allocator, this thread, its buffer cache emptied), beside its prediction (gradients, Adam's state_bytes, Footprint::of(&[&loss, &state])); without the cut: backward keeping the graph, {} windows, bytes more a step; lstm epoch: step 60 (an LSTM of 100, 30 streams, 34 batches), median of {} epoch(s) beside the plain-ndarray floor's {:.1} ms",
            r.windows, r.bptt, r.uncut_windows, r.lstm_epochs, r.floor_millis_per_epoch,
        );
        let _ = writeln!(
            out,
            "{:<22} {:<21} {:>10} {:>10} {:>6} {:>5} {:>9} {:>9} {:>11} {:>11} {:>9} {:>9}",
            "strategy",
            "freeing",
            "kept",
            "predicted",
            "exact",
            "flat",
            "graph",
            "nodes",
            "uncut/step",
            "predicted",
            "lstm ms",
            "vs floor"
        );
        let yes = |b: bool| if b { "yes" } else { "NO" };
        for run in &r.runs {
            let last = |v: &[i64]| v.last().map_or_else(|| "-".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{:<22} {:<21} {:>10} {:>10} {:>6} {:>5} {:>9} {:>9} {:>11.0} {:>11.0} {:>9.1} {:>8.2}x",
                run.strategy,
                run.freeing,
                last(&run.kept_after_window),
                last(&run.predicted_after_window),
                yes(run.exact),
                yes(run.flat),
                run.graph_bytes,
                format!("{}/{}", run.graph_nodes.0, run.graph_nodes.1),
                run.uncut_growth_per_step,
                run.uncut_predicted_growth_per_step,
                run.lstm_millis_per_epoch,
                run.vs_floor,
            );
        }
        let _ = writeln!(
            out,
            "bytes; kept and predicted: after the last window (flat: the same after every window); graph: the loss's and the state's footprint in it (var/fn)."
        );
    }

    fn value_memory_table(&self, out: &mut String) {
        use crate::report::value_memory::{Mode, WIDTH};
        let Some(first) = self.value_memory.first() else {
            return;
        };
        let _ = writeln!(
            out,
            "\nvalue memory: a ReLU MLP {WIDTH} wide on batches of {}, softmax cross-entropy, under {}; kept: the graph between forward and backward (parameters, their gradients and the batch excluded), beside its prediction from graph_footprint; peaks: the heap during backward above the heap before it, the graph retained and with retain_graph(false) (the engine's buffer cache, at most 4 MiB, included); left: what a released graph still holds while the loss is held; time: forward + backward, one run",
            first.batch, self.config.default_strategy,
        );
        let _ = writeln!(
            out,
            "{:>6} {:<17} {:>4} {:>11} {:>11} {:>6} {:>11} {:>11} {:>9} {:>9} {:>6}",
            "layers",
            "mode",
            "segs",
            "kept",
            "predicted",
            "exact",
            "peak kept",
            "peak freed",
            "left",
            "ms",
            "time"
        );
        let plain_time = |layers: usize| {
            self.value_memory
                .iter()
                .find(|r| r.layers == layers && r.mode == Mode::Plain)
                .map_or(f64::NAN, |r| r.millis)
        };
        for r in &self.value_memory {
            let _ = writeln!(
                out,
                "{:>6} {:<17} {:>4} {:>11} {:>11} {:>6} {:>11} {:>11} {:>9} {:>9.1} {:>5.2}x",
                r.layers,
                r.mode.name(),
                r.segments,
                bytes(r.kept_bytes as f64),
                bytes(r.predicted_bytes as f64),
                if r.kept_bytes == r.predicted_bytes {
                    "yes"
                } else {
                    "NO"
                },
                bytes(r.backward_peak_retained as f64),
                bytes(r.backward_peak_released as f64),
                bytes(r.released_left_bytes as f64),
                r.millis,
                r.millis / plain_time(r.layers),
            );
        }
        let _ = writeln!(
            out,
            "the parameters ({} at {} layers) exist before forward and are not in the kept bytes",
            bytes(first.parameter_bytes as f64),
            first.layers,
        );
    }

    fn budget_table(&self, out: &mut String) {
        let Some(section) = &self.budget else {
            return;
        };
        let _ = writeln!(
            out,
            "\nbudget: byte budgets (autograd_ops::budget) under {}: {} budgets evenly from the smallest any plan fits to keep-all's peak (exact planner), the targets' rows, √n segments and keep-all; predicted: the plan's peak; measured: the counting allocator's peak above the step's start (gradients cleared, seed allocated, buffer cache bypassed), the largest of {} runs; recomp: block forwards run again; time: the fastest of the runs (forward + backward) over keep-all's; plan: plan_chain's time",
            self.config.default_strategy, section.rows, section.runs,
        );
        for model in &section.models {
            let _ = writeln!(
                out,
                "{}: {} blocks; smallest budget {} ({:.1}% of keep-all's {}); profile {:.0} ms",
                model.name,
                model.blocks,
                bytes(model.minimum as f64),
                100.0 * model.minimum as f64 / model.keep_all_peak as f64,
                bytes(model.keep_all_peak as f64),
                model.profile_millis,
            );
            let _ = writeln!(
                out,
                "{:<9} {:<22} {:>11} {:>11} {:>11} {:>6} {:>6} {:>9} {:>6} {:>9}",
                "planner",
                "row",
                "budget",
                "predicted",
                "measured",
                "exact",
                "recomp",
                "ms",
                "time",
                "plan ms"
            );
            for r in &model.rows {
                let _ = writeln!(
                    out,
                    "{:<9} {:<22} {:>11} {:>11} {:>11} {:>6} {:>6} {:>9.1} {:>5.2}x {:>9.1}",
                    r.planner,
                    r.note,
                    r.budget
                        .map_or_else(|| "-".to_string(), |b| bytes(b as f64)),
                    bytes(r.predicted as f64),
                    bytes(r.measured as f64),
                    if r.exact { "yes" } else { "NO" },
                    r.recomputed,
                    r.millis,
                    r.vs_keep_all,
                    r.plan_millis,
                );
            }
            if let Some(largest) = model
                .rows
                .iter()
                .filter(|r| r.planner == "exact")
                .max_by_key(|r| r.budget)
            {
                let _ = writeln!(
                    out,
                    "plan time of plan_chain (exact) at the largest budget ({}): {:.1} ms",
                    bytes(largest.budget.map_or(0.0, |b| b as f64)),
                    largest.plan_millis,
                );
            }
            for t in &model.targets {
                let _ = writeln!(
                    out,
                    "target {}: {}: {}",
                    if t.met { "met" } else { "MISSED" },
                    t.statement,
                    t.figure,
                );
            }
        }
    }

    fn allocators_table(&self, out: &mut String) {
        if self.allocators.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\nallocators: the seed loop's time per iteration on one thread (W1) and its throughput on \
             {} threads over one (W5), per build",
            self.allocators[0].scaling.first().map_or(0, |s| s.threads)
        );
        let _ = writeln!(
            out,
            "{:<12} {:<10} {:>10} {:>12} {:>12} {:>8}",
            "allocator", "subject", "µs/iter", "1 thread/s", "all/s", "scaling"
        );
        for figures in &self.allocators {
            for ((subject, micros), scaling) in
                figures.micros_per_iteration.iter().zip(&figures.scaling)
            {
                let _ = writeln!(
                    out,
                    "{:<12} {:<10} {:>10.1} {:>12.0} {:>12.0} {:>7.2}x",
                    figures.allocator,
                    subject,
                    micros,
                    scaling.one_thread,
                    scaling.all_threads,
                    scaling.ratio,
                );
            }
        }
        if let Some(err) = &self.allocators_error {
            let _ = writeln!(out, "(the system allocator's build did not run: {err})");
        }
    }
}

/// An op's name short enough for a column.
fn short_op(op: &str) -> &str {
    match op {
        "max_pool2d" => "maxpool",
        "softmax_cross_entropy" => "sce",
        other => other,
    }
}
