import io

from rich.console import Console

from blincompass.report.progress import ReportProgress


def test_silent_when_stdout_is_not_a_terminal(capsys):
    with ReportProgress(3) as p:  # pytest captures stdout: not a TTY
        for _ in range(3):
            p.advance("step")
    assert not p.enabled and p.done == 3
    assert capsys.readouterr().out == ""


def test_rich_bar_when_enabled(monkeypatch):
    buf = io.StringIO()
    import rich.progress

    real = rich.progress.Progress

    def progress(*cols, **kw):
        return real(*cols, console=Console(file=buf, force_terminal=True, width=80), **kw)

    monkeypatch.setattr(rich.progress, "Progress", progress)
    with ReportProgress(2, enabled=True) as p:
        p.advance("tables")
        p.add_total(1)
        p.advance("figures")
        p.advance("done")
    assert p.done == 3 and p.total == 3
    assert "Rendering report" in buf.getvalue()
