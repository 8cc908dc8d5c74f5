"""One file per VLM family; each registers a `Family` on `medmllm.vlm.FAMILIES` (the folder is the registry)."""
