"""The demo tour: parts run alone, write their figures and a report."""

import pytest

from minicnn import demo


def test_basics_part_writes_report_and_figure(tmp_path, capsys):
    assert demo.main(["basics", "--quick", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "## basics" in report and "basics_loss.png" in report
    assert (tmp_path / "basics_loss.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert str(tmp_path) in out  # the folder is named at the end
    # the tiny ConvNet memorises its batch
    first = float(report.split("loss_first: ")[1].split()[0])
    last = float(report.split("loss_last: ")[1].split()[0])
    assert last < first / 10


def test_unknown_part_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(["nonsense", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "unknown part" in capsys.readouterr().err
