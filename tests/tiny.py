"""Tiny configs for every part and an in-process CLI runner, importable from any test
(`from tiny import tiny_model_dict, run_cli`)."""
import contextlib
import io
import sys

TINY_LLM = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024,
            "tie_word_embeddings": False}
TINY_VISION = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
               "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32, "patch_size": 8,
               "num_channels": 1, "vision_use_head": False}
TINY_VOLUME = {"img_size": [16, 32, 32], "patch_size": [8, 16, 16], "hidden_size": 32, "mlp_dim": 64,
               "num_layers": 1, "num_heads": 2}
TINY_ECG = {"samples": 1000, "patch_size": 100, "hidden_size": 32, "mlp_dim": 64, "num_layers": 1, "num_heads": 2}


def tiny_model_dict(modalities=("image", "volume", "ecg")) -> dict:
    """The `model:` section of a run config for a tiny model with the given encoders."""
    encoders = {"image": {"name": "hf_vision", "params": {"config": TINY_VISION}},
                "volume": {"name": "vit3d", "params": TINY_VOLUME},
                "ecg": {"name": "vit1d", "params": TINY_ECG}}
    connectors = {"image": {"name": "mlp2x_gelu"}, "volume": {"name": "resampler", "params": {"num_tokens": 4}},
                  "ecg": {"name": "pool", "params": {"num_tokens": 5}}}
    return {"llm": {"config": TINY_LLM, "tokenizer_vocab": 400},
            "encoders": {m: encoders[m] for m in modalities},
            "connectors": {m: connectors[m] for m in modalities}}


def run_cli(capsys, *args):
    """The CLI in this process (faster than a subprocess): (exit code, stdout, stderr). ``capsys`` may be
    None (a module-scoped fixture has none): the output is then captured here."""
    from medmllm import cli

    argv, sys.argv = sys.argv, ["medmllm", *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.ExitStack() as stack:
            if capsys is None:
                stack.enter_context(contextlib.redirect_stdout(out))
                stack.enter_context(contextlib.redirect_stderr(err))
            cli.main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    finally:
        sys.argv = argv
    if capsys is None:
        return code, out.getvalue(), err.getvalue()
    got = capsys.readouterr()
    return code, got.out, got.err


def chat_server(reply):
    """A local OpenAI-compatible chat-completions server, already serving on 127.0.0.1 (port 0):
    `reply(body) -> str` gives the assistant's text for each request body; `.seen` collects them."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply(body)}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.seen = seen
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
