"""Models: where weights come from, what identifies them, and the model classes the stages train and use.

One module per job; importing this package (or `spec`, `hf`) loads no torch:

  spec          EncoderSpec: model, pooling, normalize, query/passage lengths, declared once for the dense
                backend's parameters and the trainer's settings (and any later encoder kind)
  hf            Hugging Face sources: the packaged MiniLM, name resolution, `load_tower` (safetensors only,
                no remote code unless asked), file and folder digests that feed cache keys
  dual_encoder  DualEncoder (shared or separate towers, CLS/mean pooling) and its saved EncoderConfig
  cross_encoder CrossEncoder: a 1-label sequence classifier scoring (query, passage) pairs, length-sorted
                batches, precision "auto" (bf16 with pre-cast Linear weights where the CPU has it)
  rocketqa_catalog, paddle_tensors, ernie_names, rocketqa_convert, rocketqa_import
                the official RocketQA models: names and MD5s, Paddle's checkpoint files read with numpy, the
                ERNIE -> BERT name map, the conversion, and fetching / checking / caching (`rqbench models`)
"""
