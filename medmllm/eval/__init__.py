"""Evaluation: registered metrics (`metrics`) and the manifest evaluator with the blank-input check (`evaluate`)."""
