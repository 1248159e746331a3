"""``astra eval NAME``: a checkpoint evaluated on a split gives the trainer's own figures, and
a checkpoint of another config, an unknown step or a missing run is refused by name."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from astra_jax.cli import eval as eval_cli
from astra_jax.cli import train as train_cli


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("eval") / "run")
    args = ["reference-tiny", "--workdir", workdir, "--steps", "20", "--checkpoint-every", "10",
            "--eval-batches", "4", "--no-progress", "--json"]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # capsys is per test; this fixture is per module
        assert train_cli.main(args) == 0
    return workdir, json.loads(out.getvalue().strip().splitlines()[-1])


def test_eval_reproduces_the_trainers_figures(trained, capsys):
    workdir, summary = trained
    base = ["reference-tiny", "--workdir", workdir, "--split", "eval", "--json"]
    assert eval_cli.main([*base, "--batches", "4"]) == 0
    result = _last_json(capsys)
    assert result["step"] == summary["best_step"] == 20 and result["num_examples"] == 4 * 32
    assert result["metrics"]["loss"] == pytest.approx(summary["eval"]["loss"], rel=1e-5)
    # an earlier checkpoint is another set of parameters; all batches of the split by default
    assert eval_cli.main([*base, "--step", "10"]) == 0
    earlier = _last_json(capsys)
    assert earlier["step"] == 10 and earlier["num_examples"] == 512
    assert earlier["metrics"]["loss"] != pytest.approx(result["metrics"]["loss"], rel=1e-3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--step", "7"], "has checkpoints at steps [10, 20]"),
        (["--config.depth", "3"], "model_config.depth = 2 (this config: 3)"),
        (["--ema"], "kept no EMA"),
        (["--split", "test"], "split 'test'"),
    ],
)
def test_bad_requests_are_one_line_errors(trained, capsys, args, message):
    workdir, _ = trained
    code = eval_cli.main(["reference-tiny", "--workdir", workdir, "--split", "eval", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("astra eval: error:") and message in err, err


def test_a_missing_run_is_named(tmp_path, capsys):
    assert eval_cli.main(["reference-tiny", "--workdir", str(tmp_path / "nothing")]) == 2
    assert "no checkpoints" in capsys.readouterr().err
