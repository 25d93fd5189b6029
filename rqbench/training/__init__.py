"""Training as the RocketQA papers describe it (arXiv 2010.08191, 2110.07367): one loop, pluggable tasks.

One module per job; importing this package loads no torch (the loop, tasks and losses import it):

  config       TrainConfig: every knob of a training run (an EncoderSpec; no torch, suites validate cheaply)
  groups       training groups as JSON lines (query, positives, negatives): read/write, built from qrels
  mining       hard-negative candidates from any retriever's top-k
  batches      the seeded global-batch order, each rank's slice, the negatives a step uses
  losses/      one module per loss: contrastive core, in-batch, cross-batch (all_gather)
  distributed  torchrun environment, gradient all-reduce, `launch` (torchrun, standalone or rendezvous)
  checkpoints  atomic checkpoints with optimizer/scheduler/RNG state (no pickle), resume checks
  loop         train(task, config, out_dir): the one training loop
  tasks/       what a task supplies (base), the registry (TASKS, make_task), dual_encoder, cross_encoder
  run          run_training(task, groups, config, out_dir, nproc, torchrun_args): here or under torchrun
  trainer      train_dual_encoder(groups_path, config, out_dir): the dual-encoder task, for old callers
  cli          `rqbench train` (Typer), __main__ `python -m rqbench.training` (what torchrun runs per rank)
  tiny         a tiny random BERT (HF folder, MiniLM tokenizer) for tests and smoke runs
"""
