"""Training the dual encoder the way the RocketQA papers describe it (arXiv 2010.08191, 2110.07367).

One module per job; importing this package loads no torch (the trainer and losses import it):

  config       TrainConfig: every knob of a training run (no torch import, so suites validate cheaply)
  groups       training groups as JSON lines (query, positives, negatives): read/write, built from qrels
  mining       hard negatives sampled from any retriever's top-k
  losses       in-batch and cross-batch (all_gather) contrastive losses
  distributed  torchrun environment, gradient all-reduce, `launch(nproc, module, args)`
  batches      the seeded global-batch order and each rank's slice of it
  checkpoints  atomic HF-format checkpoints with optimizer/scheduler/RNG state, resume
  trainer      train_dual_encoder(groups_path, config, out_dir)
  tiny         a tiny random BERT (HF folder, MiniLM tokenizer) for tests and smoke runs
  __main__     `python -m rqbench.training --groups F --config cfg.json --out DIR` (works under torchrun)
"""
