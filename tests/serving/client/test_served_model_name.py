"""/v1/models lists the served model name: --served-model-name, by default the checkpoint's name
from the model repository's manifest.json; "ensemble" (the Triton model) is still accepted. Through
the official `openai` package against gateways in front of the session's server."""

from pathlib import Path

import pytest
from gateway_process import start_gateway, stop_gateway
from suite_ports import test_port

from client.openai_gateway.__main__ import checkpoint_name

pytestmark = pytest.mark.integration

NAMED_PORT = test_port(11060)


def client_for(base):
    import openai

    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=120)


def ask(client, model):
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )


def test_the_default_name_is_the_checkpoints(gateway, tokenizer_dir):
    # Both assemblies record where the checkpoint came from: artifacts/checkpoints/<name>.
    expected = checkpoint_name(tokenizer_dir)
    assert expected and expected != "ensemble"
    client = client_for(gateway)
    assert [m.id for m in client.models.list().data] == [expected]
    assert client.models.retrieve(expected).id == expected
    assert ask(client, expected).model == expected
    assert ask(client, "ensemble").model == "ensemble"  # clients written for the Triton model keep working


@pytest.fixture(scope="module")
def named_gateway(server, tokenizer_dir):
    process = start_gateway(
        NAMED_PORT, server.options.grpc_url, tokenizer_dir, "--served-model-name", "smol-chat"
    )
    yield f"http://127.0.0.1:{NAMED_PORT}"
    stop_gateway(process)


def test_served_model_name_is_listed_and_other_names_are_404(named_gateway, tokenizer_dir):
    import openai

    client = client_for(named_gateway)
    assert [m.id for m in client.models.list().data] == ["smol-chat"]
    assert ask(client, "smol-chat").choices[0].message.content is not None
    assert ask(client, "ensemble").model == "ensemble"
    with pytest.raises(openai.NotFoundError) as caught:
        ask(client, checkpoint_name(tokenizer_dir))  # an explicit name replaces the default
    assert "smol-chat" in caught.value.body["message"]


def test_no_manifest_means_no_checkpoint_name(tmp_path):
    tokenizer = tmp_path / "preprocessing" / "1" / "tokenizer"
    tokenizer.mkdir(parents=True)
    assert checkpoint_name(tokenizer) is None and checkpoint_name(None) is None
    (tmp_path / "manifest.json").write_text('{"tokenizer": "/models/My-Model-7B"}')
    assert checkpoint_name(Path(tokenizer)) == "My-Model-7B"
