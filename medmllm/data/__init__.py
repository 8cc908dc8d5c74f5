"""Data: files -> arrays (`io`), arrays + conversations -> tensors (`processor`), JSONL manifests (`manifest`),
batches (`collate`), a tokenizer for tiny models (`tokenizer`) and the MedSynth generator (`synth`)."""
