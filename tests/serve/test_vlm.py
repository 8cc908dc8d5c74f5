"""`medmllm serve` with a Hugging Face VLM (`model.vlm`, a tiny LLaVA): an x-ray PNG, a CT volume (sent
as slices) and an ECG record (sent as a paper plot) through the official openai client, greedy answers
equal to `medmllm chat`'s."""
from __future__ import annotations

import json

from openai import OpenAI

from conftest import Server, part
from medmllm.build import build_model
from medmllm.config import ModelConfig, from_dict
from medmllm.engine import Engine
from medmllm.vlm.scratch import build

FILES = {"xray/xray-00001.png": "Is there a pleural effusion?", "ct/ct-00001.nii.gz": "How many lesions are there?",
         "ecg/ecg-00001": "What is the rhythm?"}


def test_a_vlm_is_served_like_a_medmllm(trained, tmp_path):
    _, data = trained
    texts = [t["value"] for line in (data / "xray_vqa_train.jsonl").read_text().splitlines()
             for t in json.loads(line)["conversations"]]
    scratch = build("llava", tmp_path / "scratch", texts, image_size=32, vocab=300)
    model, processor = build_model(from_dict(ModelConfig, {"vlm": str(scratch), "vlm_inputs": {"slices": 3}}))
    folder = tmp_path / "model"  # served as "model"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    engine = Engine.from_pretrained(folder)
    server = Server(folder, log=tmp_path / "server.log")
    try:
        client = OpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0, timeout=60)
        for rel, question in FILES.items():
            reply = client.chat.completions.create(
                model="model", max_tokens=6, temperature=0,
                messages=[{"role": "user", "content": [part(data, rel), {"type": "text", "text": question}]}])
            key = {"xray": "image", "ct": "volume", "ecg": "ecg"}[rel.split("/")[0]]
            assert reply.choices[0].message.content == engine.chat(question, **{key: data / rel}, max_new_tokens=6), rel
            assert reply.usage.prompt_tokens > processor.settings.num_tokens[key]  # the input's image tokens counted
    finally:
        server.stop()
