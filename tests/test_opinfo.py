"""PyTorch's own test inputs for every op and module strided mirrors (skipped without torch and
expecttest): tools/opinfo_check.py, the check the issue's reviewers run, must find nothing wrong, missing or
refused beyond its ALLOWED_REFUSALS, and every error input must raise."""
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("expecttest", reason="PyTorch's test inputs need expecttest (pip install expecttest)")

TOOL = Path(__file__).resolve().parent.parent / "tools" / "opinfo_check.py"


def _tool():
    spec = importlib.util.spec_from_file_location("opinfo_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("ops", ["conv2d,conv_transpose2d,linear", "max_pool2d,avg_pool2d",
                                 "batch_norm,group_norm,layer_norm,instance_norm", "interpolate"])
def test_op_samples_agree(ops, capsys):
    assert _tool().main(["--ops", ops, "--modules", "none", "-v"]) == 0, capsys.readouterr().out


def test_module_inputs_agree(capsys):
    assert _tool().main(["--ops", "none", "-v"]) == 0, capsys.readouterr().out
